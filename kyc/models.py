"""Models of kyc (filled in by its issue)."""
