"""Benchmarks. Each module ``bench/bench_*.py`` defines ``run(quick: bool) -> str`` that
measures its subject next to a reference measured in the same run and returns a report of
ratios. ``python -m bench`` (``make bench``) runs them all."""
