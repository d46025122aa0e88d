"""Salesforce -> Stripe: Salesforce-owned fields written to the linked Stripe customer (pure)."""
