"""Models of payouts (filled in by its issue)."""
