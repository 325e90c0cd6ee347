"""Screens: keep the rows of a result table that satisfy a condition.

Internal: the public API is what ``technic_nb`` exports."""
