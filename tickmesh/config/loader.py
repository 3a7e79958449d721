"""Load :class:`Settings` from a TOML file, the environment and overrides, and show the result.

A mistake in the configuration stops start-up with a :class:`ConfigError` that names the dotted
key (``risk.max_order_qty: unknown key (did you mean max_order_quantity?)``), where the value
came from, and never the value of a secret.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import SettingsError

from tickmesh.config.settings import Settings, file_layer
from tickmesh.core.errors import ConfigError

MASK = "********"
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SECRET_SECTION = "secrets"


def load_settings(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Settings from, highest first: ``overrides``, ``TICKMESH_*`` env vars, the file, defaults."""
    file_data = _read_toml(Path(path)) if path is not None else {}
    layers = _Layers(str(path) if path is not None else None, file_data, dict(overrides or {}))
    token = file_layer.set(file_data)
    try:
        return Settings(**layers.overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, layers)) from None
    except SettingsError as exc:
        raise ConfigError(f"invalid configuration in the environment: {exc}") from None
    finally:
        file_layer.reset(token)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


# --- explaining validation errors -------------------------------------------------------------


class _Layers:
    def __init__(self, path: str | None, file_data: dict[str, Any], overrides: dict[str, Any]):
        self.path = path
        self.file_data = file_data
        self.overrides = overrides

    def origin(self, keys: list[str | int]) -> str:
        """Where a value at ``keys`` came from, as a suffix for the error line (the file is
        named in the heading, so values from it get no suffix)."""
        if not keys or _lookup(self.file_data, keys):
            return ""
        if _lookup(self.overrides, keys):
            return " (from overrides)"
        env = "TICKMESH_" + "__".join(str(k) for k in keys).upper()
        if env in (name.upper() for name in os.environ):
            return f" (from environment {env})"
        return ""


def _describe(exc: ValidationError, layers: _Layers) -> str:
    where = f" in {layers.path}" if layers.path else ""
    lines = [_describe_one(error, layers) for error in exc.errors(include_url=False)]
    return f"invalid configuration{where}:\n  " + "\n  ".join(lines)


def _describe_one(error: Any, layers: _Layers) -> str:
    keys, parent = _locate(tuple(error["loc"]))
    dotted = _dotted(keys) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{dotted}: unknown key{_suggestion(str(keys[-1]), parent)}{layers.origin(keys)}"
    if kind == "missing":
        return f"{dotted}: required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    if keys and error.get("input") is not None and not _is_secret(keys):
        message += f" (got {_short(error['input'])})"
    return f"{dotted}: {message}{layers.origin(keys)}"


def _locate(loc: tuple[str | int, ...]) -> tuple[list[str | int], type[BaseModel] | None]:
    """The user-visible keys of an error location (union tags dropped) and the model holding
    the last key."""
    keys: list[str | int] = []
    node: Any = Settings
    parent: type[BaseModel] | None = None
    for item in loc:
        parent = node if _is_model(node) else None
        node, is_tag = _step(node, item)
        if not is_tag:
            keys.append(item)
    return keys, parent


def _step(node: Any, item: str | int) -> tuple[Any, bool]:
    node = _unwrap(node)
    if _is_model(node):
        field = node.model_fields.get(item) if isinstance(item, str) else None
        return (field.annotation if field else None), False
    origin = get_origin(node)
    if origin is list:
        return get_args(node)[0], False
    if origin is dict:
        return get_args(node)[1], False
    if origin in (Union, UnionType):
        for member in get_args(node):
            kind = member.model_fields.get("kind") if _is_model(member) else None
            if kind is not None and item in get_args(kind.annotation):
                return member, True
    return None, False


def _unwrap(node: Any) -> Any:
    if get_origin(node) is Annotated:
        node = get_args(node)[0]
    if get_origin(node) in (Union, UnionType):
        members = [m for m in get_args(node) if m is not NoneType]
        if len(members) == 1:
            return _unwrap(members[0])
    return node


def _is_model(node: Any) -> bool:
    return isinstance(node, type) and issubclass(node, BaseModel)


def _suggestion(key: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    names = list(model.model_fields)
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]}?)"
    return f" (valid keys: {', '.join(names)})"


def _dotted(keys: list[str | int]) -> str:
    text = ""
    for key in keys:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text


def _lookup(data: Any, keys: list[str | int]) -> bool:
    for key in keys:
        found = isinstance(data, dict) and key in data
        found = found or (isinstance(data, list) and isinstance(key, int) and key < len(data))
        if not found:
            return False
        data = data[key]
    return True


def _is_secret(keys: list[str | int]) -> bool:
    return bool(keys) and keys[0] == _SECRET_SECTION


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- showing the effective configuration ------------------------------------------------------


def render_config(settings: Settings, fmt: Literal["toml", "json"] = "toml") -> str:
    """The effective configuration as TOML (or JSON), secrets masked as ``********``.

    Risk limits that are switched off are written as ``"off"``, which loads back as off; other
    unset values appear as comments. The TOML loads back into equal settings (bar secrets).
    """
    data = _masked(settings.model_dump(mode="python"))
    data["risk"] = {k: "off" if v is None else v for k, v in data["risk"].items()}
    if fmt == "json":
        return json.dumps(data, indent=2, default=str) + "\n"
    lines = ["# tickmesh effective configuration (secrets masked)"]
    _toml_table(data, "", lines)
    return "\n".join(lines) + "\n"


def _masked(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _toml_table(data: dict[str, Any], prefix: str, lines: list[str]) -> None:
    subtables: list[tuple[str, Any]] = []
    for key, value in data.items():
        if (isinstance(value, dict) and value) or _is_table_array(value):
            subtables.append((key, value))
        elif value is None:
            lines.append(f"# {_toml_key(key)} is unset")
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in subtables:
        path = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
        for item in value if isinstance(value, list) else [value]:
            lines.extend(["", f"[[{path}]]" if isinstance(value, list) else f"[{path}]"])
            _toml_table(item, path, lines)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))
