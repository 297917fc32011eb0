"""Reliability harnesses: crash (SIGKILL) and load runs against the real service process."""
