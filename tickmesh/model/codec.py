"""Wire codec: msgpack for the bus, JSON for people. Decoding is typed and strict."""

from __future__ import annotations

from typing import Any

import msgspec

from tickmesh.core.errors import DecodeError
from tickmesh.model.events import AnyEvent, Event

_msgpack_encoder = msgspec.msgpack.Encoder()
_msgpack_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(AnyEvent)
_json_encoder = msgspec.json.Encoder()
_json_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(AnyEvent)


def encode(event: Event) -> bytes:
    return _msgpack_encoder.encode(event)


def decode(payload: bytes) -> Event:
    """Decode a msgpack payload; anything malformed raises :class:`DecodeError`."""
    try:
        event: Event = _msgpack_decoder.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeError(f"malformed event payload ({len(payload)} bytes): {exc}") from exc
    return event


def to_json(event: Event) -> bytes:
    return _json_encoder.encode(event)


def from_json(data: bytes | str) -> Event:
    try:
        event: Event = _json_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeError(f"malformed event JSON: {exc}") from exc
    return event


def to_builtins(event: Event) -> Any:
    """Plain dicts/lists/str for printing; Decimals become strings, bytes base64."""
    return msgspec.to_builtins(event)
