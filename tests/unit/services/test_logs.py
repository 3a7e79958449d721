"""Structured logs: one JSON object per line with the event's ids, secrets never written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tickmesh.services.logs import (
    HANDLER_NAME,
    JsonFormatter,
    RedactingFormatter,
    configure_logging,
    redact_text,
)

log = logging.getLogger("tickmesh.test.logs")


@pytest.fixture(autouse=True)
def root_logging() -> Iterator[None]:
    """configure_logging changes the root logger: put pytest's handlers and level back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler.get_name() == HANDLER_NAME:
            handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_carries_core_fields_and_ids() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)

    log.info(
        "filled %s at %s",
        "BTC",
        Decimal("101.5"),
        extra={"correlation_id": "sig-1", "event_id": "ev-9", "service": "execution"},
    )

    [line] = json_lines(out)
    assert line["level"] == "INFO"
    assert line["logger"] == "tickmesh.test.logs"
    assert line["message"] == "filled BTC at 101.5"
    assert (line["correlation_id"], line["event_id"], line["service"]) == (
        "sig-1",
        "ev-9",
        "execution",
    )
    stamp = datetime.fromisoformat(line["ts"])
    assert line["ts"].endswith("Z")
    assert stamp.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_json_each_record_is_one_line() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)

    log.warning("first\nsecond")
    log.warning("third")

    lines = json_lines(out)
    assert [line["message"] for line in lines] == ["first\nsecond", "third"]


def test_json_secret_extras_redacted_at_any_depth() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)

    log.info(
        "connecting",
        extra={
            "password": "hunter2",
            "venue": {"name": "coinbase", "api_key": "AK-123", "api_secret": "S-456"},
            "headers": [{"Authorization": "Bearer t0k3n"}],
            "attempt": 2,
        },
    )

    [line] = json_lines(out)
    assert line["password"] == "***"
    assert line["venue"] == {"name": "coinbase", "api_key": "***", "api_secret": "***"}
    assert line["headers"] == [{"Authorization": "***"}]
    assert line["attempt"] == 2
    raw = out.getvalue()
    assert all(secret not in raw for secret in ("hunter2", "AK-123", "S-456", "t0k3n"))


def test_json_url_password_masked_in_message_and_extras() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)

    log.warning(
        "bus %s unreachable", "redis://:pw@h:6379/0", extra={"db": "postgresql://u:pg@db/x"}
    )

    [line] = json_lines(out)
    assert line["message"] == "bus redis://:***@h:6379/0 unreachable"
    assert line["db"] == "postgresql://u:***@db/x"
    assert "pw@" not in out.getvalue()
    assert ":pg@" not in out.getvalue()


def test_json_exception_text_included_and_masked() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)

    try:
        raise ConnectionError("cannot reach nats://app:s3cret@broker:4222")
    except ConnectionError:
        log.exception("bridge failed", extra={"correlation_id": "sig-7"})

    [line] = json_lines(out)
    assert line["message"] == "bridge failed"
    assert line["correlation_id"] == "sig-7"
    assert "Traceback" in line["exc"]
    assert "ConnectionError: cannot reach nats://app:***@broker:4222" in line["exc"]
    assert "s3cret" not in out.getvalue()


def test_json_extra_named_like_a_core_field_kept_apart() -> None:
    formatter = JsonFormatter()
    record = logging.makeLogRecord({"msg": "hello", "levelname": "INFO", "level": "custom"})

    line = json.loads(formatter.format(record))

    assert (line["level"], line["extra_level"]) == ("INFO", "custom")


def test_text_format_masks_url_password_and_secret_pairs() -> None:
    out = io.StringIO()
    configure_logging("INFO", "text", stream=out)

    log.error("login to https://ops:pa55@host/api?token=abc&page=2 failed")

    text = out.getvalue()
    assert "https://ops:***@host/api?token=***&page=2 failed" in text
    assert " ERROR tickmesh.test.logs: " in text
    assert "pa55" not in text
    assert "abc" not in text


def test_text_format_timestamps_in_utc() -> None:
    formatter = RedactingFormatter()
    record = logging.makeLogRecord({"msg": "x", "levelname": "INFO", "name": "t", "created": 0.0})
    record.msecs = 0.0

    assert formatter.format(record) == "1970-01-01T00:00:00.000Z INFO t: x"


def test_records_below_level_dropped() -> None:
    out = io.StringIO()
    configure_logging("warning", "json", stream=out)

    log.info("quiet")
    log.warning("loud")

    assert [line["message"] for line in json_lines(out)] == ["loud"]


def test_configure_again_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    old = configure_logging("INFO", "json", stream=first)

    configure_logging("INFO", "text", stream=second)
    log.info("once")

    ours = [h for h in logging.getLogger().handlers if h.get_name() == HANDLER_NAME]
    assert len(ours) == 1
    assert first.getvalue() == ""
    assert "once" in second.getvalue()
    assert old not in logging.getLogger().handlers


@pytest.mark.parametrize(("fmt", "level"), [("xml", "INFO"), ("json", "LOUD")])
def test_unknown_format_or_level_rejected(fmt: str, level: str) -> None:
    with pytest.raises(ValueError, match=r"format|level"):
        configure_logging(level, fmt, stream=io.StringIO())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://:pw@h", "redis://:***@h"),
        ("kafka://user:p%40ss@k:9092", "kafka://user:***@k:9092"),
        ("http://host:8000/a@b", "http://host:8000/a@b"),
        ("password='two words' rest", "password='***' rest"),
        ('{"api_key": "zz", "n": 1}', '{"api_key": "***", "n": 1}'),
        ("user=bob author=me", "user=bob author=me"),
        ("GET https://h/x?page=2&api-key=k1 ok", "GET https://h/x?page=2&api-key=*** ok"),
    ],
)
def test_redact_text_masks_only_secrets(text: str, expected: str) -> None:
    assert redact_text(text) == expected
