"""Long-running scripts (the reduced-size reproduction report)."""
