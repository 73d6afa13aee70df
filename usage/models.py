"""Models of usage (filled in by its issue)."""
