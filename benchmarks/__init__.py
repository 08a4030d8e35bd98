"""appmux's benchmarks: ``python -m benchmarks [--quick]`` (see BENCHMARKS.md)."""
