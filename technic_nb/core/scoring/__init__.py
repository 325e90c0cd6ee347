"""Scoring: subscores, the TechRating, signals, trade plans, ranking and filters.

Internal: the public API is what ``technic_nb`` exports."""
