"""Benchmarks: each module is run as ``python -m benchmarks.<name>`` from the repository root and uses the one
timing / peak-memory harness in :mod:`benchmarks.harness`. Results of full runs live in docs/results/."""
