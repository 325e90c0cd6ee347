"""What an HTTP answer other than 200 means for a Polygon-style fetch.

:func:`classify` sorts an answer into one :class:`Verdict`:

* ``transient`` - 408, 429, 5xx (but 501/505): retried with backoff; a 429
  also closes the source's Retry-After gate for every thread;
* ``key`` - 401, or a 403 whose body says the key is unknown, invalid or
  missing: the whole scan's problem (``fatal=True``), quoting the server's reason;
* ``entitlement`` - any other 403 ("not entitled", "upgrade your plan"): this
  symbol's ``api_error`` with the server's reason (not retried; a scan in which
  every answer is such a 403 stops with :func:`plan_covers_nothing`);
* ``answered`` - 404: the symbol is unknown (a data error);
* ``other`` - any other status: the symbol's ``api_error``, not retried.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import re
import time
from dataclasses import dataclass
from typing import Literal

import orjson

from technic_nb.core.errors import ErrorType, ScanError, data_error
from technic_nb.sources.polygon.config import API_KEY_ENV, _Secret, redact
from technic_nb.sources.retry.policy import TransientFetchError

__all__ = [
    "TRANSIENT_STATUSES",
    "Answer",
    "Verdict",
    "classify",
    "parse_retry_after",
    "plan_covers_nothing",
    "server_reason",
]

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
KEY_SUGGESTION = (
    f"Set the {API_KEY_ENV} environment variable to a valid key, or pass "
    "api_key=... to PolygonSource."
)
PLAN_SUGGESTION = (
    "The key works but its plan does not include these data: check the plan's "
    "entitlements (daily aggregates, the exchanges and the history depth asked for), "
    "upgrade it, or scan symbols the plan covers."
)
#: Words in a 403 body that say the key itself is refused (not what it may access).
_KEY_PROBLEM = re.compile(
    r"(?i)(unknown|invalid|missing|wrong|bad|expired|revoked|disabled|malformed)\W+"
    r"(api\W*)?(key|token)"
    r"|(api\W*)?key\W+(was\s+)?(not\s+(provided|found|valid|recognized)|invalid|unknown|missing)"
    r"|no\s+api\W*key"
)
_TAGS = re.compile(r"<[^>]*>")

Kind = Literal["transient", "key", "entitlement", "answered", "other"]


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, read in full: status, reason phrase, ``Retry-After`` and body."""

    status: int
    reason: str
    retry_after: str | None
    body: bytes


@dataclass(frozen=True)
class Verdict:
    """What an answer means: the exception to raise and its kind (see the module)."""

    failure: BaseException
    kind: Kind


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Returns None when the header is missing or unreadable; a date in the past
    gives 0.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" means UTC with an unknown origin zone
            when = when.replace(tzinfo=dt.UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def server_reason(body: bytes, secret: _Secret | None = None) -> str:
    """The server's own words: the ``error``/``message`` of a JSON body, else the
    start of a text body without markup (redacted, at most 200 characters)."""
    text = ""
    try:
        payload = orjson.loads(body)
    except ValueError:
        payload = None
        text = " ".join(_TAGS.sub(" ", body[:2000].decode("utf-8", "replace")).split())
    if isinstance(payload, dict):
        text = str(payload.get("error") or payload.get("message") or "")
    return redact(text, secret)[:200]


def _quoted(status: int, phrase: str, reason: str) -> str:
    return f"HTTP {status}: {reason!r}" if reason else f"HTTP {status} {phrase}".strip()


def classify(answer: Answer, symbol: str, shown_url: str, secret: _Secret | None) -> Verdict:
    """The :class:`Verdict` of a non-200 ``answer`` to ``symbol``'s request."""
    status = answer.status
    phrase = f"HTTP {status} {answer.reason}".strip()
    if status in TRANSIENT_STATUSES or (500 <= status < 600 and status not in (501, 505)):
        retry_after = parse_retry_after(answer.retry_after) if status in (429, 503) else None
        return Verdict(
            TransientFetchError(phrase, status=status, retry_after=retry_after), "transient"
        )
    reason = server_reason(answer.body, secret)
    details = {"symbol": symbol, "status": status, "url": shown_url, "server_message": reason}
    quoted = _quoted(status, answer.reason, reason)
    if status == 401 or (status == 403 and _KEY_PROBLEM.search(reason)):
        return Verdict(_key_refused(quoted, details), "key")
    if status == 403:
        return Verdict(_not_entitled(symbol, quoted, details), "entitlement")
    if status == 404:
        return Verdict(
            data_error(
                symbol,
                f"unknown symbol at the data service ({quoted})",
                "Check the ticker spelling and whether it is listed; exclude the symbol.",
                **{k: v for k, v in details.items() if k != "symbol"},
            ),
            "answered",
        )
    return Verdict(
        ScanError(
            ErrorType.API_ERROR,
            f"{symbol}: the data service refused the request ({quoted})",
            details=details,
            suggestion="Check the symbol and the date window; report the problem if it persists.",
            affected_symbols=(symbol,),
        ),
        "other",
    )


def _key_refused(quoted: str, details: dict[str, object]) -> ScanError:
    return ScanError(
        ErrorType.API_ERROR,
        f"the data service refused the API key ({quoted}); the scan stopped",
        details={k: v for k, v in details.items() if k != "symbol"},
        suggestion=KEY_SUGGESTION,
        recoverable=False,
        fatal=True,
    )


def _not_entitled(symbol: str, quoted: str, details: dict[str, object]) -> ScanError:
    # recoverable: the answer depends on the key's plan, which the cache key does not
    # hold, so it is not remembered; the next run asks again (and succeeds once the
    # plan covers the symbol).
    return ScanError(
        ErrorType.API_ERROR,
        f"{symbol}: the API key's plan does not cover this symbol ({quoted})",
        details=details,
        suggestion=PLAN_SUGGESTION,
        recoverable=True,
        affected_symbols=(symbol,),
    )


def plan_covers_nothing(first: ScanError, denied: int) -> ScanError:
    """The one fatal error of a scan whose every answer was a 403 "not entitled".

    ``first`` is the first such symbol error; its server message is quoted.
    """
    status = first.details.get("status", 403)
    reason = str(first.details.get("server_message") or "")
    quoted = _quoted(int(status) if isinstance(status, int) else 403, "Forbidden", reason)
    return ScanError(
        ErrorType.API_ERROR,
        f"the API key's plan covers none of the data asked for: the first {denied} "
        f"requests were all refused ({quoted}) and none succeeded; the scan stopped",
        details={
            "status": status,
            "server_message": reason,
            "refused": denied,
            "url": first.details.get("url"),
        },
        suggestion=PLAN_SUGGESTION,
        recoverable=False,
        fatal=True,
    )
