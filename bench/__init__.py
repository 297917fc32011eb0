"""Benchmarks, each run next to its baseline in the same process run: ``python -m bench.run``."""
