"""Stripe boundary: webhook signature checks and the API reader (official `stripe` SDK)."""
