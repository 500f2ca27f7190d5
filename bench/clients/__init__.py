"""Benchmark clients: each runs as its own process and sends the same workload."""

__all__: list[str] = []
