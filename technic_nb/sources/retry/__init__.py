"""Retries with exponential backoff: ``backoff`` decorators that a cancel interrupts at once.

:mod:`~technic_nb.sources.retry.policy` (what is retried, how often, how long),
:mod:`~technic_nb.sources.retry.calls` (the decorator and the call under retry).
"""

from technic_nb.sources.retry.calls import (
    RETRY_OPTIONS,
    RetryCall,
    call_with_retries,
    cancellable_waits,
    current_call,
    retry_transient,
    retrying,
)
from technic_nb.sources.retry.policy import (
    RetryPolicy,
    RetryStats,
    TransientFetchError,
    is_transient_fetch_error,
)

__all__ = [
    "RETRY_OPTIONS",
    "RetryCall",
    "RetryPolicy",
    "RetryStats",
    "TransientFetchError",
    "call_with_retries",
    "cancellable_waits",
    "current_call",
    "is_transient_fetch_error",
    "retry_transient",
    "retrying",
]
