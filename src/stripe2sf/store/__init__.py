"""Our database: the inbox of Stripe events, lanes and leases, attempts, alerts (SQLAlchemy)."""
