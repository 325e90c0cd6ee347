"""User factors: the Factor API, its cache keys, and running factors on bars.

Internal: the public API is what ``technic_nb`` exports."""
