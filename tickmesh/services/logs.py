"""Log lines for people (``text``) or for log pipelines (``json``, one object per line), with
secrets kept out of both.

:func:`configure_logging` installs one handler on the root logger. A JSON line holds ``ts`` (ISO
8601, UTC, milliseconds), ``level``, ``logger``, ``message``, every field passed with ``extra=``
(``correlation_id``, ``event_id``, ``service``... at the top level), and ``exc`` / ``stack``
when there is an exception or stack. Redaction, in both formats:

- a value whose key looks secret (password, passwd, passphrase, pwd, secret, token, api key,
  private key, credential, authorization, cookie) becomes ``***``, in extras and in dicts nested
  in them;
- the password in a URL (``redis://:pw@h`` -> ``redis://:***@h``) and the value in a
  ``password=...`` / ``token: ...`` pair are masked in messages, exception text and string extras.

This is a safety net, not a licence: log what a reader needs, not settings objects.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
REDACTED = "***"
HANDLER_NAME = "tickmesh"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_SECRET_WORDS = (
    r"passw(?:or)?d|passphrase|pwd|secret|token|api[-_]?key|private[-_]?key"
    r"|credentials?|authorization|cookie"
)
_SECRET_KEY = re.compile(_SECRET_WORDS, re.IGNORECASE)
# Both patterns start only at a token's first character and bound what they backtrack over, so
# masking stays linear in the line's length even for long tokens.
_URL_PASSWORD = re.compile(
    r"(?P<head>(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*+://[^\s:/?#@]*+):[^\s/?#@]++@", re.IGNORECASE
)
_SECRET_PAIR = re.compile(
    rf"(?<![\w.-])(?P<key>[\w.-]{{0,40}}?(?:{_SECRET_WORDS})[\w.-]{{0,40}}+)"
    r"(?P<sep>[\"']?\s*[=:]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&\"')}\]]+)",
    re.IGNORECASE,
)
_RESERVED = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_CORE = ("ts", "level", "logger", "message", "exc", "stack")


def redact_text(text: str) -> str:
    """``text`` with URL passwords and ``secret=value`` pairs masked."""
    text = _URL_PASSWORD.sub(rf"\g<head>:{REDACTED}@", text)
    return _SECRET_PAIR.sub(_mask_pair, text)


def _mask_pair(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match['key']}{match['sep']}{quote}{REDACTED}{quote}"


def redact_value(key: str, value: object) -> object:
    """A JSON-ready copy of ``value`` with secrets masked; ``key`` is the field it sits under."""
    if _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value("", v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or infinity
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line; see the module docstring for the fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED:
                entry[f"extra_{key}" if key in _CORE else key] = redact_value(key, value)
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = redact_text(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact_text(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


class RedactingFormatter(logging.Formatter):
    """The plain text format (UTC timestamps), with the same masking as the JSON one."""

    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def __init__(self, fmt: str = TEXT_FORMAT) -> None:
        super().__init__(fmt)
        self.converter = _utc

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def _utc(seconds: float | None) -> time.struct_time:
    return time.gmtime(seconds)


def _iso_utc(created: float) -> str:
    stamp = datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def formatter_for(fmt: str) -> logging.Formatter:
    """The formatter of a log format name; ValueError naming the choices otherwise."""
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return RedactingFormatter()
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")


def configure_logging(
    level: str | int = "INFO", fmt: str = "text", *, stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record at ``level`` and above to ``stream`` (stderr) in ``fmt``.

    Replaces the root logger's handlers, as ``logging.basicConfig(force=True)`` does, so calling
    it again switches format or level; only handlers this function installed are closed. Returns
    the handler installed. Raises ValueError for an unknown format or level.
    """
    formatter = formatter_for(fmt)
    root = logging.getLogger()
    root.setLevel(level.upper() if isinstance(level, str) else level)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter)
    for old in list(root.handlers):
        root.removeHandler(old)
        if old.get_name() == HANDLER_NAME:
            old.close()
    root.addHandler(handler)
    return handler
