"""ASGI app: webhook endpoint, health, metrics, dashboard."""
