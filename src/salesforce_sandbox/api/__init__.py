"""HTTP translation: requests (``Call``) to model operations, results to ``Reply``."""
