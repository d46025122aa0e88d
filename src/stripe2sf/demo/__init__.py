"""`stripe2sf demo`: both sandboxes, the service, a realistic scenario and a checked summary."""
