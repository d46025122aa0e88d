"""Reconciliation: Stripe against Salesforce as a drift report."""
