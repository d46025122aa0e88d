"""The planner and the flows: what each Stripe event writes in Salesforce."""
