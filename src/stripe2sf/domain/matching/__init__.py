"""Which Salesforce Account and Contact a Stripe customer has."""
