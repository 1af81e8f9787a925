"""Benchmark scripts (timings), run as modules; not part of the test suite."""
