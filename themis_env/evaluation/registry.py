"""The policy registry: policy names and reference schemes, filled by the policy packages.

Two tables, each filled two ways:

* **names** (``themis``, ``hpa``, ...): a target ``"module:attr"`` (or the object itself), built
  as ``target(env, **params)``. Entry-point group ``themis_env.policies``.
* **schemes** (``agent`` in ``agent:PATH.zip``): a :class:`PolicyScheme` that checks,
  identifies and builds the references ``<scheme>:<rest>``. Entry-point group
  ``themis_env.policy_schemes``.

A package fills them on import with :func:`register_policy` / :func:`register_scheme`; an
installed distribution declares entry points in those groups (themis-env itself does, in
``pyproject.toml``, for the shipped baselines and agents), so a user's package adds policies
without ``module:Class``. The entry points are read the first time a table is needed, and a
target is imported only when its policy is built: importing ``themis_env`` imports no policy
code. A name claimed with two different targets is an error when it is used.

Besides registered names and schemes, a reference may be ``module:Class``, any importable
class (or factory) built as ``Class(env, **params)``.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable
from importlib import metadata
from typing import Any, Protocol, runtime_checkable

from themis_env.errors import PolicyError, did_you_mean

__all__ = [
    "POLICY_GROUP",
    "SCHEME_GROUP",
    "TRUST_VAR",
    "PolicyScheme",
    "check_params",
    "load_policy",
    "make_policy",
    "policy_names",
    "register_policy",
    "register_scheme",
    "reload_entry_points",
    "scheme_for",
    "scheme_names",
]

POLICY_GROUP = "themis_env.policies"
SCHEME_GROUP = "themis_env.policy_schemes"
TRUST_VAR = "THEMIS_TRUST_AGENTS"
"""Set to ``1`` by ``--trust-agent``: a scheme may then load artefacts that run code when
loaded (a pickled agent). An environment variable, so the harness's worker processes inherit
it; never set by a suite file, which may come with the agents it names."""


@runtime_checkable
class PolicyScheme(Protocol):
    """Handles the policy references ``<scheme>:<rest>`` (each method gets the whole reference)."""

    def check(self, ref: str) -> None:
        """Raise :class:`~themis_env.errors.PolicyError` if ``ref`` cannot be built; build nothing.

        For example a malformed reference or a missing file.
        """
        ...

    def identity(self, ref: str) -> str:
        """What identifies the policy's behaviour in run keys (e.g. ``ref`` plus a file hash)."""
        ...

    def env_modes(self, ref: str) -> dict[str, str]:
        """The env's ``action_mode``/``obs_mode`` the policy acts through by default ({}: any)."""
        ...

    def mismatches(self, ref: str, env: Any) -> list[str]:
        """Why the policy cannot act on ``env`` (the unwrapped env); empty when it can."""
        ...

    def build(self, ref: str, env: Any, **params: Any) -> Any:
        """The policy for ``env``, with keyword ``params``."""
        ...


_registered: dict[str, dict[str, object]] = {POLICY_GROUP: {}, SCHEME_GROUP: {}}
_installed: dict[str, dict[str, list[str]]] = {}


def _key(target: object) -> str:
    """A target as ``module:attr`` text, so a string and the object it names compare equal."""
    if isinstance(target, str):
        return target
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if module and qualname:
        return f"{module}:{qualname}"
    return repr(target)


def _register(group: str, what: str, name: str, target: object) -> None:
    if not isinstance(name, str) or not name or ":" in name or name != name.strip():
        raise PolicyError(
            f"{what} name {name!r} must be a non-empty string without ':' or surrounding spaces"
        )
    if isinstance(target, str) and not _is_module_attr(target):
        raise PolicyError(f"{what} {name!r}: target {target!r} must be 'module:attr'")
    table = _registered[group]
    if name in table and _key(table[name]) != _key(target):
        raise PolicyError(
            f"{what} name {name!r} is already registered as {_key(table[name])!r}; "
            f"cannot register it as {_key(target)!r}"
        )
    table[name] = target


def register_policy(name: str, target: str | Callable[..., Any]) -> None:
    """Register a policy under ``name``: ``"module:Class"`` (imported when built) or the class.

    ``target(env, **params)`` builds the policy. Registering the same target again is a no-op.

    Raises:
        PolicyError: for a malformed name or target, or a name registered with another target.
    """
    _register(POLICY_GROUP, "policy", name, target)


def register_scheme(name: str, target: str | PolicyScheme) -> None:
    """Register the reference scheme ``name`` (``name:...`` references) to a :class:`PolicyScheme`.

    Raises:
        PolicyError: for a malformed name or target, or a name registered with another target.
    """
    _register(SCHEME_GROUP, "policy scheme", name, target)


def reload_entry_points() -> None:
    """Read the installed distributions' entry points again (after installing one)."""
    _installed.clear()


def _entry_points(group: str) -> dict[str, list[str]]:
    if group not in _installed:
        found: dict[str, list[str]] = {}
        for ep in metadata.entry_points(group=group):
            if ep.value not in found.setdefault(ep.name, []):
                found[ep.name].append(ep.value)
        _installed[group] = found
    return _installed[group]


def _table(group: str) -> dict[str, list[object]]:
    """Every name of ``group`` with its distinct targets (more than one: a clash)."""
    table: dict[str, list[object]] = {n: [t] for n, t in _registered[group].items()}
    for name, values in _entry_points(group).items():
        targets = table.setdefault(name, [])
        keys = {_key(t) for t in targets}
        targets.extend(v for v in values if v not in keys)
    return table


def _target(group: str, what: str, name: str) -> object | None:
    targets = _table(group).get(name)
    if not targets:
        return None
    if len(targets) > 1:
        raise PolicyError(
            f"{what} name {name!r} is claimed by several targets: "
            f"{', '.join(repr(_key(t)) for t in targets)}; uninstall or rename one"
        )
    return targets[0]


def policy_names() -> list[str]:
    """Names of every registered and installed policy."""
    return sorted(_table(POLICY_GROUP))


def scheme_names() -> list[str]:
    """Names of every registered and installed reference scheme (``agent``, ...)."""
    return sorted(_table(SCHEME_GROUP))


def _is_module_attr(ref: str) -> bool:
    module, _, attr = ref.partition(":")
    return bool(module) and bool(attr)


def _import(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise PolicyError(f"cannot load policy entry point {target!r}: {exc}") from exc
    return obj


def scheme_for(ref: str) -> PolicyScheme | None:
    """The scheme that handles ``ref`` (``agent`` for ``agent:PATH.zip``), or None.

    Raises:
        PolicyError: when the scheme's target cannot be loaded or is not a PolicyScheme.
    """
    prefix, sep, _ = ref.partition(":")
    if not sep:
        return None
    target = _target(SCHEME_GROUP, "policy scheme", prefix)
    if target is None:
        return None
    scheme = _import(target) if isinstance(target, str) else target
    if not isinstance(scheme, PolicyScheme):
        raise PolicyError(
            f"policy scheme {prefix!r}: {_key(target)!r} is not a PolicyScheme (it needs "
            "check, identity, env_modes, mismatches and build)"
        )
    return scheme


def load_policy(name: str) -> Callable[..., Any]:
    """What builds policy ``name`` (a registered name or ``module:Class``), imported now.

    Raises:
        PolicyError: for an unknown name, with a "did you mean" and the known names, or a
            target that cannot be imported.
    """
    target = _target(POLICY_GROUP, "policy", name)
    if target is None:
        if ":" not in name:
            known = policy_names()
            raise PolicyError(
                f"unknown policy {name!r}.{did_you_mean(name, known)} Known policies: "
                f"{', '.join(known)}; or give 'module:Class'"
                + "".join(f" or '{scheme}:...'" for scheme in scheme_names())
                + (" (a trained agent is 'agent:PATH.zip')" if "agent" in scheme_names() else "")
            )
        if not _is_module_attr(name):
            raise PolicyError(
                f"policy {name!r}: write 'module:Class', e.g. 'mypkg.policies:MyPolicy'"
            )
        target = name
    factory = _import(target) if isinstance(target, str) else target
    if not callable(factory):
        raise PolicyError(f"policy {name!r}: {_key(target)!r} is not a class or factory")
    return factory


def make_policy(ref: str, env: Any, **params: Any) -> Any:
    """Build the policy ``ref`` (a name, ``<scheme>:...`` or ``module:Class``) for ``env``.

    Raises:
        PolicyError: for an unknown name (with the known names and a "did you mean"), a
            reference that cannot be resolved, or parameters it does not take (see
            :func:`check_params`).
    """
    scheme = scheme_for(ref)
    if scheme is not None:
        return scheme.build(ref, env, **params)
    factory = load_policy(ref)
    check_params(ref, factory, params)
    return factory(env, **params)


# Simple annotations whose values a parameter check can judge (others are left to the policy).
_KINDS: dict[Any, tuple[type, ...]] = {float: (int, float), int: (int,), bool: (bool,), str: (str,)}


def _parameters(factory: Callable[..., Any]) -> tuple[list[inspect.Parameter], bool]:
    """The keyword parameters ``factory(env, **params)`` takes, and whether it takes any name."""
    signature = inspect.signature(factory)
    params = list(signature.parameters.values())[1:]  # the first one is the env
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params)
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return named, open_ended


def _annotation(factory: Callable[..., Any], param: inspect.Parameter) -> Any:
    target = factory.__init__ if isinstance(factory, type) else factory  # type: ignore[misc]
    try:
        return typing.get_type_hints(target).get(param.name, param.annotation)
    except Exception:  # noqa: BLE001 (an annotation that cannot be resolved: not judged)
        return param.annotation


def _describe(factory: Callable[..., Any], param: inspect.Parameter) -> str:
    kind = _annotation(factory, param)
    text = param.name + (f": {kind.__name__}" if kind in _KINDS else "")
    return text + ("" if param.default is param.empty else f" = {param.default!r}")


def check_params(ref: str, factory: Callable[..., Any], params: dict[str, Any]) -> None:
    """Check ``params`` against what ``factory(env, **params)`` takes, before building anything.

    Names must be parameters of the factory (unless it takes ``**kwargs``); a value given to a
    parameter annotated ``float``, ``int``, ``bool`` or ``str`` must be of that type.

    Raises:
        PolicyError: naming the parameter, the value and the parameters the policy takes.
    """
    try:
        named, open_ended = _parameters(factory)
    except (TypeError, ValueError):  # no signature to read (a builtin): the policy judges
        return
    by_name = {p.name: p for p in named}
    allowed = ", ".join(_describe(factory, p) for p in named) or "none"
    for key, value in params.items():
        param = by_name.get(key)
        if param is None:
            if open_ended:
                continue
            raise PolicyError(
                f"policy {ref!r} has no parameter {key!r}.{did_you_mean(key, by_name)} "
                f"Its parameters: {allowed}"
            )
        kinds = _KINDS.get(_annotation(factory, param))
        if kinds is not None and (
            not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
        ):
            raise PolicyError(
                f"policy {ref!r}: parameter {key} = {value!r} is a {type(value).__name__}; "
                f"expected {_describe(factory, param)}"
            )
