"""Strict conversion of plain YAML data into frozen, typed dataclasses.

``build(cls, data, source)`` walks the dataclass's type hints and rejects unknown keys,
missing keys, wrong types and values outside the bounds declared in field metadata
(``ge``, ``gt``, ``le``, ``lt``). Every error names the file, the dotted key, the value and
what is allowed, so a typo in a scenario fails at load time and not an hour into training.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from themis_env.errors import ConfigError, did_you_mean

__all__ = ["build", "to_plain", "deep_merge", "bounded"]

T = TypeVar("T")


def bounded(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    doc: str = "",
    omit_default: bool = False,
) -> Any:
    """A dataclass field with numeric bounds checked by :func:`build`.

    ``omit_default`` leaves the field out of :func:`to_plain` while it holds its default: a
    key added after configs were hashed into records (model variants) then leaves the plain
    data, and so the hashes of configs that do not use it, as they were.
    """
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "doc": doc, "omit_default": omit_default}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _where(source: str, key: str) -> str:
    return f"{source}: key '{key}'" if key else source


def _check_bounds(value: float, meta: Mapping[str, Any], source: str, key: str) -> None:
    checks = (
        ("ge", lambda v, b: v >= b, ">="),
        ("gt", lambda v, b: v > b, ">"),
        ("le", lambda v, b: v <= b, "<="),
        ("lt", lambda v, b: v < b, "<"),
    )
    for name, ok, sign in checks:
        bound = meta.get(name)
        if bound is not None and not ok(value, bound):
            raise ConfigError(
                f"{_where(source, key)} = {value!r} is not allowed; it must be {sign} {bound}"
            )


def _convert(tp: Any, value: Any, source: str, key: str, meta: Mapping[str, Any]) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{_where(source, key)} is null; a value is required")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, source, key, meta)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(
            errors[0]
            if len(errors) == 1
            else f"{_where(source, key)} = {value!r}: " + "; ".join(errors)
        )
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            hint = did_you_mean(str(value), [str(a) for a in allowed])
            raise ConfigError(
                f"{_where(source, key)} = {value!r} is not allowed; "
                f"choose one of {list(allowed)}.{hint}"
            )
        return value
    if dataclasses.is_dataclass(tp):
        return build(tp, value, source, key)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{_where(source, key)} = {value!r} must be a list")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(
                    f"{_where(source, key)} = {value!r} must have exactly {len(args)} items"
                )
            items = [
                _convert(a, v, source, f"{key}[{i}]", meta)
                for i, (a, v) in enumerate(zip(args, value, strict=True))
            ]
        else:
            item_tp = args[0] if args else Any
            items = [_convert(item_tp, v, source, f"{key}[{i}]", meta) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{_where(source, key)} = {value!r} must be a mapping")
        args = get_args(tp)
        val_tp = args[1] if len(args) == 2 else Any
        return {str(k): _convert(val_tp, v, source, f"{key}.{k}", meta) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{_where(source, key)} = {value!r} must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConfigError(f"{_where(source, key)} = {value!r} must be a whole number")
        _check_bounds(value, meta, source, key)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{_where(source, key)} = {value!r} must be a number")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{_where(source, key)} = {value!r} must be a finite number")
        _check_bounds(value, meta, source, key)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{_where(source, key)} = {value!r} must be a string")
        return value
    raise TypeError(
        f"unsupported config type {tp!r} at {key}"
    )  # a bug in the schema, not user input


def build(cls: type[T], data: Any, source: str, key: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and bad values.

    Args:
        cls: A (frozen) dataclass type whose fields carry type hints.
        data: The mapping read from YAML (or given as overrides).
        source: What to name in errors, usually the file path.
        key: The dotted key of ``data`` inside the file, for nested calls.

    Raises:
        ConfigError: naming ``source``, the key, the value and what is allowed.
    """
    if isinstance(data, cls):
        return data
    string_key = getattr(cls, "STRING_KEY", None)
    if string_key and isinstance(data, str):
        data = {string_key: data}  # a class that declares it takes a string for that one key
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    if not isinstance(data, Mapping):
        short = f" or a string (the {string_key})" if string_key else ""
        raise ConfigError(
            f"{_where(source, key)} must be a mapping with keys from {sorted(fields)}{short}, "
            f"got {data!r}"
        )
    hints = get_type_hints(cls)
    unknown = [k for k in data if k not in fields]
    if unknown:
        bad = unknown[0]
        prefix = f"{key}." if key else ""
        raise ConfigError(
            f"{source}: unknown key '{prefix}{bad}'.{did_you_mean(str(bad), fields)}"
            f" Allowed keys: {sorted(fields)}"
        )
    kwargs = {}
    for name, f in fields.items():
        sub = f"{key}.{name}" if key else name
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], source, sub, f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{source}: missing required key '{sub}'")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{_where(source, key)}: {exc}") from exc


def to_plain(obj: Any) -> Any:
    """Turn a config dataclass back into plain JSON/YAML data (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_plain(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not (f.metadata.get("omit_default") and getattr(obj, f.name) == _default(f))
        }
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    return obj


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into ``base`` recursively; nested mappings keep their other keys."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out
