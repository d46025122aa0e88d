"""Actions from Salesforce (pure): an Opportunity reaching a stage, or a `Stripe_Request__c`
record, makes Stripe objects (customer, invoice, subscription or payment link) once, and the
result is written back to Salesforce. `config` holds `[actions]`, `decide` what one change
asks for, `steps` the Stripe requests and their idempotency keys, `results` the write-back."""
