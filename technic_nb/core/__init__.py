"""The pure core (no I/O): errors, cancellation, symbols, bars, indicators, scoring,
the trade plan and the market regime.

Internal: the public API is what ``technic_nb`` exports."""
