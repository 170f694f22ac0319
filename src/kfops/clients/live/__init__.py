"""Readers over the real APIs: timeouts, retries of transient errors, exact error messages."""
