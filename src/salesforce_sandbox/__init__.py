"""salesforce_sandbox."""
