"""Daily bars from a Polygon-style REST API over HTTP.

Internal: the public API is what ``technic_nb`` exports."""
