"""Benchmarks of technic_nb: run ``python -m bench`` (or ``python bench/run.py``).

See ``bench/RESULTS.md`` for the latest figures and ``python -m bench --help``
for the options.
"""
