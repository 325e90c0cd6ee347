"""Retries with exponential backoff: ``backoff`` decorators that a cancel interrupts at once.

:mod:`~technic_nb.sources.retry.policy` says what is retried, how often and how
long, and counts it; :mod:`~technic_nb.sources.retry.calls` holds the decorator
every fetch carries and the call under retry.
"""
