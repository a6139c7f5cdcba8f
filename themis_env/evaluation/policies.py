"""Turn a policy reference into a policy object for one env.

A reference is one of:

* a registered name (``themis``, ``hpa``, ... see
  :func:`~themis_env.evaluation.registry.policy_names`);
* ``<scheme>:<rest>`` for a registered scheme, e.g. ``agent:PATH.zip``, a stable-baselines3
  agent loaded with the normalisation statistics saved beside the zip;
* ``module:Class``, any importable class built as ``Class(env, **params)``.

Names and schemes come from :mod:`themis_env.evaluation.registry`, which the policy packages
fill; nothing here names a policy package, and no policy code is imported until a run asks
for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from themis_env.errors import PolicyError
from themis_env.evaluation.registry import (
    check_params,
    load_policy,
    make_policy,
    policy_names,
    scheme_for,
)

__all__ = [
    "agent_mismatches",
    "build_policy",
    "check_policy_params",
    "env_modes",
    "policy_identity",
    "validate_policy_ref",
]


def validate_policy_ref(ref: str) -> None:
    """Check that ``ref`` names a policy that can be built, without building it.

    Raises:
        PolicyError: for an unknown name (with the known names), a malformed ``module:Class``
            or a reference its scheme rejects (a missing agent file).
    """
    if not isinstance(ref, str) or not ref:
        raise PolicyError(f"policy reference {ref!r} must be a non-empty string")
    scheme = scheme_for(ref)
    if scheme is not None:
        scheme.check(ref)
    elif ":" in ref:
        module, _, attr = ref.partition(":")
        if not module or not attr:
            raise PolicyError(
                f"policy {ref!r}: write 'module:Class', e.g. 'mypkg.policies:MyPolicy'"
            )
    elif ref not in policy_names():
        load_policy(ref)  # raises the message with the known names and a "did you mean"


def check_policy_params(ref: str, params: Mapping[str, Any]) -> None:
    """Check ``params`` against policy ``ref``'s parameters up front, without an env.

    A scheme's policy (a learned agent) checks its own parameters when built.

    Raises:
        PolicyError: for an unknown policy, a parameter it does not take (listing those it
            takes) or a value of the wrong type.
    """
    if scheme_for(ref) is None:
        check_params(ref, load_policy(ref), dict(params))


def policy_identity(ref: str) -> str:
    """What identifies the policy's behaviour in run keys: ``ref``, or its scheme's identity.

    An agent's identity adds the zip's hash: two different agent files at the same path must
    not share finished runs on resume.
    """
    scheme = scheme_for(ref)
    return ref if scheme is None else scheme.identity(ref)


def env_modes(ref: str, action_mode: str | None, obs_mode: str | None) -> tuple[str, str]:
    """The env's action and observation modes for policy ``ref``; None means the policy's own.

    Baselines act through ``encode_targets`` in any mode and default to ``target``/``dict``; a
    scheme's policy (a learned agent) defaults to the modes its scheme asks for (the agent's
    training modes, from its manifest).
    """
    scheme = scheme_for(ref)
    if scheme is not None and (action_mode is None or obs_mode is None):
        own = scheme.env_modes(ref)
        action_mode = action_mode or own.get("action_mode")
        obs_mode = obs_mode or own.get("obs_mode")
    return action_mode or "target", obs_mode or "dict"


def agent_mismatches(
    ref: str, scenario: str, overrides: Mapping[str, Any], action_mode: str, obs_mode: str
) -> list[str]:
    """Why the scheme policy ``ref`` (a learned agent) cannot act on ``scenario``; empty if it can.

    Empty too for a name or ``module:Class``. An agent acts on the pipeline, limits and
    observation layout it was trained on; a suite runs it only on the scenarios that match.
    """
    scheme = scheme_for(ref)
    if scheme is None:
        return []
    from themis_env.envs.inference_cluster import InferenceClusterEnv

    env = InferenceClusterEnv(
        scenario, action_mode=action_mode, obs_mode=obs_mode, **dict(overrides)
    )
    return list(scheme.mismatches(ref, env))


def build_policy(ref: str, env: Any, params: dict[str, Any] | None = None) -> Any:
    """Build the policy ``ref`` for ``env`` (the unwrapped env) with keyword ``params``.

    Raises:
        PolicyError: when the reference cannot be resolved, the policy rejects ``params``,
            or the object built has no ``predict`` method.
    """
    params = dict(params or {})
    try:
        policy = make_policy(ref, env, **params)
    except TypeError as exc:
        raise PolicyError(f"policy {ref!r} does not accept the parameters {params}: {exc}") from exc
    if not callable(getattr(policy, "predict", None)):
        raise PolicyError(
            f"policy {ref!r} built a {type(policy).__name__} without a predict(obs, state, "
            "episode_start, deterministic) method; subclass themis_env.baselines.base.Policy"
        )
    return policy
