"""stripe_sandbox."""
