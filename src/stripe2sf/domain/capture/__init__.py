"""Salesforce -> Stripe: what a captured Salesforce change is (`change`), whatever captured it
(Change Data Capture over the Pub/Sub API, or polling)."""
