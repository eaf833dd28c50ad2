"""Query-string parsing for the analytics endpoints: every value checked, one 400 naming the field.

Filters become SQL parameters (never text in the statement); column names come only from the
fixed tuples here, so no user input reaches the SQL text.
"""
from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta, timezone
from typing import Iterable, Mapping

from coordinator.validation import ValidationError

BUCKETS = {"minute": 60, "hour": 3600, "day": 86400}
MAX_WINDOW_SECONDS = 366 * 86400


def bad(message: str, field: str) -> ValidationError:
    return ValidationError(message, field, "invalid_query")


def parse_time(query: Mapping[str, str], name: str) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; naive means UTC) as a naive UTC datetime."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace(" ", "+") if "T" in raw else raw.strip())
    except ValueError:
        raise bad(f"'{name}' must be an ISO 8601 time such as 2024-05-01T12:00:00Z, got {raw!r}",
                  name) from None
    try:
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:
        value = datetime.max
    if not EARLIEST <= value <= LATEST:
        raise bad(f"'{name}' must lie between {EARLIEST.year} and {LATEST.year}, got {raw!r}", name)
    return value


# Times the API accepts: wide enough for any real query, narrow enough that arithmetic on them
# (windows, buckets, DuckDB timestamps) never overflows.
EARLIEST = datetime(1970, 1, 1)
LATEST = datetime(2200, 1, 1)


def parse_window(query: Mapping[str, str], default_seconds: float | None,
                 now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    """``since``/``until`` or ``window_seconds`` (ending now); ``since`` after ``until`` is a 400."""
    since, until = parse_time(query, "since"), parse_time(query, "until")
    raw = query.get("window_seconds")
    if raw is not None:
        if since is not None:
            raise bad("give either 'since' or 'window_seconds', not both", "window_seconds")
        try:
            seconds = float(raw)
        except ValueError:
            raise bad(f"'window_seconds' must be a number, got {raw!r}", "window_seconds") from None
        if not 0 < seconds <= MAX_WINDOW_SECONDS:
            raise bad(f"'window_seconds' must be > 0 and <= {MAX_WINDOW_SECONDS}", "window_seconds")
    else:
        seconds = default_seconds
    if since is None and seconds is not None:
        end = until or now or utcnow()
        since = end - timedelta(seconds=seconds)
    if since is not None and until is not None and since > until:
        raise bad("'since' is after 'until'", "since")
    return since, until


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def parse_choice(query: Mapping[str, str], name: str, valid: Iterable[str], default: str | None = None
                 ) -> str | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    options = list(valid)
    if raw not in options:
        raise bad(f"unknown {name} {raw!r}; one of: {', '.join(options)}", name)
    return raw


def parse_int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad(f"'{name}' must be an integer, got {raw!r}", name) from None
    if not low <= value <= high:
        raise bad(f"'{name}' must be from {low} to {high}", name)
    return value


def parse_text(query: Mapping[str, str], name: str, max_chars: int = 256) -> str | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_chars:
        raise bad(f"'{name}' is longer than {max_chars} characters", name)
    return raw


def reject_unknown(query: Mapping[str, str], allowed: Iterable[str]) -> None:
    """A misspelt filter must not silently widen the answer."""
    known = set(allowed) | {"token"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise bad(f"unknown query parameter(s): {', '.join(unknown)}; allowed: {', '.join(sorted(known - {'token'}))}",
                  unknown[0])


# Keyset cursors: "<epoch microseconds>:<id>" in URL-safe base64, opaque to clients.
def encode_cursor(ts_us: int, key: str) -> str:
    return base64.urlsafe_b64encode(f"{ts_us}:{key}".encode()).decode().rstrip("=")


def decode_cursor(query: Mapping[str, str]) -> tuple[datetime, str] | None:
    raw = query.get("cursor")
    if raw is None or raw == "":
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        ts_text, key = text.split(":", 1)
        ts_us = int(ts_text)
        return datetime(1970, 1, 1) + timedelta(microseconds=ts_us), key
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise bad("'cursor' must be the next_cursor of a previous page", "cursor") from None


def iso_us(ts_us: int | None) -> str | None:
    """Epoch microseconds as ISO 8601 UTC with a Z."""
    if ts_us is None:
        return None
    try:
        value = datetime(1970, 1, 1) + timedelta(microseconds=int(ts_us))
    except OverflowError:  # total: a stored absurd time is shown clamped, never a 500
        value = datetime.max if ts_us > 0 else datetime.min
    return value.isoformat(timespec="microseconds") + "Z"


def iso_dt(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds") + "Z"
