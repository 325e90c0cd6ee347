"""Rendering of results: matplotlib charts and styled tables (no widgets, no I/O).

Internal: the public API is what ``technic_nb`` exports."""
