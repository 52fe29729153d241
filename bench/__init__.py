"""Benchmarks of the real stack on loopback: ``make bench`` (``python -m bench``)."""
