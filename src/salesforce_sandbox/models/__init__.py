"""Behaviour of the org: storage, records (DML), queries, sessions, accounting, faults, jobs."""
