"""Backfill and catch-up planning."""
