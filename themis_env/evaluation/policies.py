"""Turn a policy reference into a policy object for one env.

A reference is one of:

* a registered name (``themis``, ``hpa``, ... see :func:`themis_env.baselines.policy_names`);
* ``module:Class``, any importable class built as ``Class(env, **params)``;
* ``agent:PATH.zip``, a stable-baselines3 agent loaded by
  :func:`themis_env.agents.evaluate.load_agent` with the normalisation statistics saved beside
  the zip.

The evaluation package imports no policy code until a run asks for it, so ``themis_env``
keeps working without the ``baselines`` or ``agents`` extras.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from themis_env.errors import PolicyError

__all__ = [
    "AGENT_PREFIX",
    "build_policy",
    "env_modes",
    "policy_identity",
    "validate_policy_ref",
]

AGENT_PREFIX = "agent:"


def _agent_path(ref: str) -> Path:
    """The agent's zip; a relative path is tried from the current folder, then beside ``agents/``.

    The second lets suites name shipped agents as ``agent:agents/zoo/<name>/<file>.zip`` and
    work from any folder, in a checkout or an installed wheel.
    """
    path = Path(ref[len(AGENT_PREFIX) :]).expanduser()
    if path.suffix != ".zip":
        raise PolicyError(
            f"policy {ref!r}: an agent policy is 'agent:PATH.zip' (a stable-baselines3 zip)"
        )
    if path.is_file():
        return path
    if not path.is_absolute():
        spec = importlib.util.find_spec("themis_env.agents")
        if spec is not None and spec.submodule_search_locations:
            shipped = Path(next(iter(spec.submodule_search_locations))).parent / path
            if shipped.is_file():
                return shipped
    raise PolicyError(f"policy {ref!r}: agent file {str(path)!r} does not exist")


def validate_policy_ref(ref: str) -> None:
    """Check that ``ref`` names a policy that can be built, without building it.

    Raises:
        PolicyError: for an unknown name (with the known names), a malformed ``module:Class``
            or a missing agent file.
    """
    if not isinstance(ref, str) or not ref:
        raise PolicyError(f"policy reference {ref!r} must be a non-empty string")
    if ref.startswith(AGENT_PREFIX):
        _agent_path(ref)
        return
    if ":" in ref:
        module, _, attr = ref.partition(":")
        if not module or not attr:
            raise PolicyError(
                f"policy {ref!r}: write 'module:Class', e.g. 'mypkg.policies:MyPolicy'"
            )
        return
    import themis_env.baselines as baselines

    if ref not in baselines.policy_names():
        # make_policy raises the message with the known names and a "did you mean".
        baselines.make_policy(ref, None)


def policy_identity(ref: str) -> str:
    """What identifies the policy's behaviour in run keys: the reference, plus the zip's hash.

    Two different agent files at the same path must not share finished runs on resume.
    """
    if ref.startswith(AGENT_PREFIX):
        digest = hashlib.sha256(_agent_path(ref).read_bytes()).hexdigest()[:16]
        return f"{ref}#sha256={digest}"
    return ref


def env_modes(ref: str, action_mode: str | None, obs_mode: str | None) -> tuple[str, str]:
    """The env's action and observation modes for policy ``ref``; None means the policy's own.

    Baselines act through ``encode_targets`` in any mode and default to ``target``/``dict``; a
    learned agent defaults to the modes it was trained with (read from its manifest by
    :func:`themis_env.agents.evaluate.required_env_kwargs`, when available).
    """
    if ref.startswith(AGENT_PREFIX) and (action_mode is None or obs_mode is None):
        try:
            required = importlib.import_module("themis_env.agents.evaluate").required_env_kwargs
            trained = required(str(_agent_path(ref)))
        except (ImportError, AttributeError):
            trained = {}
        except Exception as exc:  # noqa: BLE001 (an unreadable manifest; load_agent says more)
            raise PolicyError(f"policy {ref!r}: cannot read the agent's manifest: {exc}") from exc
        action_mode = action_mode or trained.get("action_mode")
        obs_mode = obs_mode or trained.get("obs_mode")
    return action_mode or "target", obs_mode or "dict"


def agent_mismatches(
    ref: str, scenario: str, overrides: Mapping[str, Any], action_mode: str, obs_mode: str
) -> list[str]:
    """Why the learned agent ``ref`` cannot act on ``scenario``; empty when it can.

    Empty too when ``ref`` is not an agent. An agent acts on the pipeline, limits and
    observation layout it was trained on; a suite runs it only on the scenarios that match.
    """
    if not ref.startswith(AGENT_PREFIX):
        return []
    try:
        fits = importlib.import_module("themis_env.agents.evaluate").agent_fits
    except (ImportError, AttributeError):
        return []  # load_agent reports the missing package at run time
    from themis_env.envs.inference_cluster import InferenceClusterEnv

    env = InferenceClusterEnv(
        scenario, action_mode=action_mode, obs_mode=obs_mode, **dict(overrides)
    )
    return list(fits(str(_agent_path(ref)), env))


def build_policy(ref: str, env: Any, params: dict[str, Any] | None = None) -> Any:
    """Build the policy ``ref`` for ``env`` (the unwrapped env) with keyword ``params``.

    Raises:
        PolicyError: when the reference cannot be resolved, or the object built has no
            ``predict`` method.
    """
    params = dict(params or {})
    if ref.startswith(AGENT_PREFIX):
        path = _agent_path(ref)
        if params:
            raise PolicyError(
                f"policy {ref!r}: agent policies take no parameters, got {sorted(params)}"
            )
        try:
            evaluate = importlib.import_module("themis_env.agents.evaluate")
            load_agent = evaluate.load_agent
        except (ImportError, AttributeError) as exc:
            raise PolicyError(
                f"policy {ref!r}: loading an agent needs themis_env.agents.evaluate.load_agent and "
                f'stable-baselines3 (pip install "themis-env[rl]"): {exc}'
            ) from exc
        policy = load_agent(str(path), env)
    else:
        try:
            import themis_env.baselines as baselines
        except ImportError as exc:  # pragma: no cover - baselines ships with the package
            raise PolicyError(
                f"policy {ref!r}: the baselines package is not importable: {exc}"
            ) from exc
        try:
            policy = baselines.make_policy(ref, env, **params)
        except TypeError as exc:
            raise PolicyError(
                f"policy {ref!r} does not accept the parameters {params}: {exc}"
            ) from exc
    if not callable(getattr(policy, "predict", None)):
        raise PolicyError(
            f"policy {ref!r} built a {type(policy).__name__} without a predict(obs, state, "
            "episode_start, deterministic) method; subclass themis_env.baselines.base.Policy"
        )
    return policy
