"""stripe2sf."""
