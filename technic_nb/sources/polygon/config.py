"""The API key and the arguments of :class:`~technic_nb.sources.polygon.source.PolygonSource`.

Where the key may come from, first match wins:

1. ``api_key=...`` given to the source;
2. an ``apiKey``/``api_key`` query parameter of ``base_url``
   (``https://api.polygon.io?apiKey=KEY``, as Polygon's own examples write it):
   the key is taken out of the URL and sent in the ``Authorization`` header
   like any other key, so the URL the source keeps (its identity, its repr,
   cache keys, log lines) no longer holds it.  If ``api_key=`` is given too
   and differs, the source refuses both;
3. the ``POLYGON_API_KEY`` environment variable.

Two other places are refused with a ``config_error`` that does not echo the
URL: credentials in the URL's user-info (``https://user:KEY@host``: Polygon
does not use HTTP basic authentication, and which half is the key is a guess)
and a ``#fragment`` (never sent to a server, so a key there would silently not
be used).  Every other query parameter is refused too (the URL is echoed with
any key-like value masked).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from technic_nb.core.errors import ErrorType, ScanError, config_error
from technic_nb.sources.retry.policy import RetryPolicy

__all__ = [
    "API_KEY_ENV",
    "KEY_PARAMS",
    "SourceOptions",
    "_Secret",
    "check_options",
    "redact",
    "resolve_credentials",
]

API_KEY_ENV = "POLYGON_API_KEY"
#: Query parameters that carry an API key (compared case-insensitively).
KEY_PARAMS = frozenset({"apikey", "api_key"})

_URL_KEY = re.compile(r"(?i)((?:api_?key|access_token|token)=)(?!\.\.\.)[^&\s#'\"]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",]+")
_USER_INFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@'\"]+@")
_FRAGMENT = re.compile(r"(://[^\s#'\"]*)#[^\s'\"]*")


class _Secret:
    """Holds the API key so that no repr, traceback-with-locals or ``vars()`` shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def __getstate__(self) -> str:
        return self.value

    def __setstate__(self, state: str) -> None:
        self.value = state


def redact(text: str, secret: str | _Secret | None = None) -> str:
    """``text`` with every key-like part replaced by ``***``.

    Masks ``apiKey=``/``api_key=``/``token=`` values (query strings and
    fragments alike), bearer tokens, the user-info of URLs
    (``https://user:pass@host`` becomes ``https://***@host``), URL fragments
    (``https://host/#x`` becomes ``https://host/#***``) and ``secret``
    (text or wrapped) wherever it appears.
    """
    text = _URL_KEY.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    text = _USER_INFO.sub(r"\1***@", text)
    text = _FRAGMENT.sub(r"\1#***", text)
    if isinstance(secret, _Secret):
        secret = secret.value
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


def _refuse_url(problem: str, suggestion: str) -> ScanError:
    """A ``config_error`` about ``base_url`` that does not echo it (it may hold a key)."""
    return ScanError(
        ErrorType.CONFIG_ERROR,
        f"PolygonSource.base_url is invalid: {problem}",
        details={"field": "base_url", "allowed": "an http:// or https:// URL"},
        suggestion=suggestion,
        fatal=True,
    )


def _source_config_error(field: str, value: Any, allowed: str) -> ScanError:
    return config_error(field, value, allowed, owner="PolygonSource", fatal=True)


def _missing_key() -> ScanError:
    return ScanError(
        ErrorType.CONFIG_ERROR,
        f"no Polygon API key: set {API_KEY_ENV} or pass api_key=... to PolygonSource",
        details={"field": "api_key", "env": API_KEY_ENV},
        suggestion=f"Set the {API_KEY_ENV} environment variable (for example in the "
        "notebook: os.environ['POLYGON_API_KEY'] = '...') or pass "
        "PolygonSource(api_key='...').",
        fatal=True,
    )


def _split_base_url(base_url: Any) -> tuple[str, str | None]:
    """``base_url`` without its key parameter, and that key (None when there is none)."""
    text = base_url.strip() if isinstance(base_url, str) else ""
    split = urlsplit(text)
    if split.scheme not in ("http", "https"):
        shown = redact(base_url) if isinstance(base_url, str) else base_url
        raise _source_config_error(
            "base_url", shown, "an http:// or https:// URL such as https://api.polygon.io"
        )
    if "@" in split.netloc:
        raise _refuse_url(
            "base_url must not contain user:password@ (the value is not shown: it holds "
            "credentials)",
            "Pass the key as api_key=... (or POLYGON_API_KEY), not in base_url.",
        )
    if "#" in text:
        raise _refuse_url(
            "base_url must not have a #fragment (the value is not shown: a fragment is never "
            "sent to the server, so a key there would not be used)",
            "Remove the #... part; pass the key as api_key=... (or POLYGON_API_KEY).",
        )
    params = parse_qsl(split.query, keep_blank_values=True)
    keys = {value.strip() for name, value in params if name.lower() in KEY_PARAMS}
    if not split.netloc or any(name.lower() not in KEY_PARAMS for name, _ in params):
        raise _source_config_error(
            "base_url",
            redact(text),
            "an http:// or https:// URL without query parameters (apiKey=... is accepted)",
        )
    if len(keys) > 1:
        raise _refuse_url(
            "base_url holds two different apiKey parameters (the values are not shown)",
            "Keep one apiKey=... in base_url, or pass the key as api_key=... instead.",
        )
    clean = urlunsplit((split.scheme, split.netloc, split.path, "", ""))
    url_key = next(iter(keys), "") or None
    return clean.rstrip("/"), url_key


def resolve_credentials(api_key: Any, base_url: Any) -> tuple[_Secret, str]:
    """The key (wrapped) and ``base_url`` without it; see the module docstring for the order.

    ``api_key`` and ``base_url`` may come wrapped in :class:`_Secret`.  An
    error is raised from this frame, which holds only the wrapped values, so a
    traceback that lists its locals shows no key.

    Raises:
        ScanError: a fatal ``config_error`` (that never shows a key) when no key
            is found, ``base_url`` is invalid, or two places give different keys.
    """
    outcome = _resolve(api_key, base_url)
    if isinstance(outcome, ScanError):
        raise outcome
    return outcome


def _resolve(api_key: Any, base_url: Any) -> tuple[_Secret, str] | ScanError:
    try:
        return _credentials(
            api_key.value if isinstance(api_key, _Secret) else api_key,
            base_url.value if isinstance(base_url, _Secret) else base_url,
        )
    except ScanError as exc:
        return exc.with_traceback(None)  # its frames' locals hold the key


def _credentials(api_key: Any, base_url: Any) -> tuple[_Secret, str]:
    if api_key is not None and not isinstance(api_key, str):
        raise ScanError(  # the value is not echoed: it may be the key in another type
            ErrorType.CONFIG_ERROR,
            f"PolygonSource.api_key is invalid: api_key must be a string or None, "
            f"got {type(api_key).__name__}",
            details={"field": "api_key", "allowed": "a string or None"},
            suggestion="Pass the key as a string, or set POLYGON_API_KEY.",
            fatal=True,
        )
    url, url_key = _split_base_url(base_url)
    given = api_key.strip() if isinstance(api_key, str) and api_key.strip() else None
    if given and url_key and given != url_key:
        raise _refuse_url(
            "base_url holds an apiKey that differs from api_key= (neither is shown)",
            "Give the key once: as api_key=... or as apiKey=... in base_url.",
        )
    key = given or url_key
    if key is None:
        env = os.environ.get(API_KEY_ENV)
        key = env.strip() if isinstance(env, str) and env.strip() else None
    if key is None:
        raise _missing_key()
    return _Secret(key), url


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """The checked numeric and policy arguments of a source (see :func:`check_options`)."""

    max_connections: int
    requests_per_second: float | None
    timeout: float
    answer_timeout: float
    retry: RetryPolicy


def _is_real(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def check_options(
    max_connections: Any,
    requests_per_second: Any,
    timeout: Any,
    answer_timeout: Any,
    retry: Any,
) -> SourceOptions:
    """The source's arguments checked and converted.

    ``answer_timeout`` None becomes three times ``timeout``.

    Raises:
        ScanError: a fatal ``config_error`` naming the argument, its value and
            what is allowed.
    """
    if (
        not isinstance(max_connections, int)
        or isinstance(max_connections, bool)
        or max_connections < 1
    ):
        raise _source_config_error("max_connections", max_connections, "an integer >= 1")
    if requests_per_second is not None and not _is_real(requests_per_second):
        raise _source_config_error(
            "requests_per_second", requests_per_second, "None or a finite number > 0"
        )
    if not _is_real(timeout):
        raise _source_config_error("timeout", timeout, "a finite number of seconds > 0")
    if answer_timeout is not None and not _is_real(answer_timeout):
        raise _source_config_error(
            "answer_timeout", answer_timeout, "None or a finite number of seconds > 0"
        )
    if not isinstance(retry, RetryPolicy):
        raise _source_config_error("retry", retry, "a RetryPolicy")
    return SourceOptions(
        max_connections,
        float(requests_per_second) if requests_per_second is not None else None,
        float(timeout),
        float(answer_timeout) if answer_timeout is not None else 3.0 * float(timeout),
        retry,
    )
