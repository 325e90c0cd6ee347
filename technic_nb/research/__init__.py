"""Research on top of the engine: replay over past dates and its evaluation.

Internal: the public API is what ``technic_nb`` exports."""
