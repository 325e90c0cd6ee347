"""Replay: the scan at many past dates, without look-ahead.

Internal: the public API is what ``technic_nb`` exports."""
