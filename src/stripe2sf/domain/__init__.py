"""Pure decisions: no I/O library is imported anywhere under this package."""
