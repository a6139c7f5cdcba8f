"""``KEY=VALUE`` pairs from the command line, parsed one way everywhere.

Keys are dotted paths into nested mappings (``reward.w_cost=0.2`` gives
``{"reward": {"w_cost": 0.2}}``). Values are read as YAML, so ``3`` is an int, ``[1, 2]`` a
list, ``{w_cost: 1.0}`` a mapping and ``'1e-3'`` (quoted) a string; unlike plain YAML 1.1,
an exponent without a dot (``2e-1``, ``1E5``) is a float, as in YAML 1.2 and Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from themis_env.errors import ConfigError

__all__ = ["parse_assignments", "parse_value", "split_assignment"]


class _Loader(yaml.SafeLoader):
    """The safe YAML 1.1 loader, plus YAML 1.2's floats written without a dot (``1e-5``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)[eE][-+]?\d+$"),
    list("-+.0123456789"),
)


def parse_value(text: str) -> Any:
    """A command-line value read as YAML (``""`` for an empty value).

    Raises:
        yaml.YAMLError: if ``text`` is not valid YAML.
    """
    return yaml.load(text, Loader=_Loader) if text.strip() else ""  # noqa: S506 - a SafeLoader


def split_assignment(item: str, what: str) -> tuple[str, str]:
    """``"key=value"`` as ``(key, value text)``, both stripped; the value may contain ``=``.

    Args:
        item: One command-line item.
        what: The option it came from (e.g. ``"--override"``), named in errors.

    Raises:
        ConfigError: for an item without ``=`` or with an empty key.
    """
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"{what} {item!r} must be KEY=VALUE (e.g. episode_s=60 or reward.w_cost=0.2)"
        )
    return key.strip(), text.strip()


def parse_assignments(items: Iterable[str] | None, what: str) -> dict[str, Any]:
    """Turn ``["a=1", "b.c=x"]`` into ``{"a": 1, "b": {"c": "x"}}``; later items win.

    Args:
        items: ``KEY=VALUE`` items; dotted keys nest.
        what: The option they came from (e.g. ``"--override"``), named in errors.

    Raises:
        ConfigError: for an item without ``=``, with an empty key or key part, with a value
            that is not valid YAML, or whose key runs through an earlier item's value.
    """
    out: dict[str, Any] = {}
    for item in items or ():
        key, text = split_assignment(item, what)
        parts = [part.strip() for part in key.split(".")]
        if not all(parts):
            raise ConfigError(f"{what} {item!r}: the key {key!r} has an empty part")
        try:
            value = parse_value(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{what} {item!r}: the value is not valid YAML: {exc}") from exc
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{what} {item!r} conflicts with an earlier {what} of {part!r}")
            node = child
        node[parts[-1]] = value
    return out
