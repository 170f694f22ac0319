"""Benchmarks: each module is a script (python bench/<name>.py); docs/benchmarks.md has the figures."""
