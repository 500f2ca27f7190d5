"""Benchmarks: `make bench` (python -m bench)."""

__all__: list[str] = []
