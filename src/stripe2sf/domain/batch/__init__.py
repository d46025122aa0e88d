"""The engine's decisions for many events at once: order, lookups, merge, calls, retries, budget."""
