"""Load a trained agent as a :class:`themis_env.baselines.base.Policy` and evaluate it.

``load_agent(path, env)`` is what the leaderboard's ``agent:PATH.zip`` policy calls. The
returned policy takes the env's raw observations (dict or flat), applies the transforms the
agent was trained with (flattening, the saved VecNormalize statistics, the observation and
action wrappers of its manifest) and acts deterministically. It refuses, with a
:class:`~themis_env.errors.PolicyError`, an env whose pipeline, stage limits, observation
layout or decision interval differ from the training env's.

Loading runs no code from the agent's files: the policy is built from its manifest and the
arrays beside it (:mod:`themis_env.agents.safe_format`), and its wrappers must be the
project's own. An agent saved before that format (only a zip and a ``.vecnormalize.pkl``,
both unpickled when loaded) or naming other wrappers loads only with ``trust=True``
(``--trust-agent``); ``python -m themis_env.agents.convert`` turns it into the safe format.

Command line::

    python -m themis_env.agents.evaluate agents/zoo/ppo-video-arxiv/ppo.zip --scenario smoke-video \
        --seeds 3 --compare hpa vpa horizontal
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from themis_env.agents.algos import algo_class, algo_spec, schedule_objects
from themis_env.agents.artifacts import (
    agent_files,
    interface_mismatches,
    is_legacy,
    read_manifest,
)
from themis_env.agents.envs import import_wrappers, resolve_scenario, wrapper_path
from themis_env.agents.safe_format import build_policy, load_obs_normaliser
from themis_env.agents.wrappers import TRAINING_ONLY_WRAPPERS
from themis_env.baselines.base import Policy

import themis_env  # noqa: F401 - registers the env ids
from themis_env.envs.actions import make_codec
from themis_env.envs.views import PolicyView, missing_members, policy_view
from themis_env.errors import ConfigError, PolicyError, ThemisError
from themis_env.evaluation.registry import TRUST_VAR
from themis_env.evaluation.rollout import rollout

__all__ = [
    "AgentPolicy",
    "trusted_by_environment",
    "load_agent",
    "required_env_kwargs",
    "agent_fits",
    "run_episode",
    "main",
]

GENERIC_ENV_ID = "themis_env/InferenceCluster-v0"
# The KPIs an episode row of this tool (and of themis_env.agents.select) keeps.
_EPISODE_KPIS = (
    "slo_violation_rate",
    "late_or_dropped_fraction",
    "mean_cores",
    "cost",
    "latency_p99_ms",
    "horizontal_actions",
    "vertical_actions",
)
# Action wrappers that emit the wrapped env's own action form (through encode_targets), so they
# work whatever action_mode the evaluation env uses.
_MODE_AGNOSTIC_WRAPPERS = (
    "themis_env.envs.wrappers.DiscreteActionWrapper",
    "themis_env.agents.wrappers.FitDeltaAction",
    "themis_env.agents.wrappers.FitScaleAction",
    "themis_env.agents.padded.PadStageActions",
    "themis_env.agents.residual.ThemisHeadroom",
    "themis_env.agents.residual.ThemisExperts",
)


def required_env_kwargs(path: str | Path) -> dict[str, Any]:
    """The ``gym.make`` keyword arguments the agent saved as ``path`` acts through.

    ``action_mode`` and ``obs_mode`` of its training env: an env built with them needs no
    translation. Scenario overrides used in training (``episode_s``, reward weights) are not
    requirements; any scenario with the same interface fits.
    """
    manifest = read_manifest(path)
    return {
        "action_mode": manifest.get("action_mode", "target"),
        "obs_mode": manifest.get("obs_mode", "dict"),
    }


def trusted_by_environment() -> bool:
    """Whether ``--trust-agent`` was given (the environment variable :data:`TRUST_VAR` is 1)."""
    return os.environ.get(TRUST_VAR, "") == "1"


def agent_fits(path: str | Path, env: gym.Env) -> list[str]:
    """Why the agent saved as ``path`` cannot act on ``env`` (empty when it can)."""
    manifest = read_manifest(path)
    return interface_mismatches(manifest.get("interface") or {}, env)


class AgentPolicy(Policy):
    """A trained stable-baselines3 agent behind the baselines' ``Policy`` interface.

    Args:
        env: The env the policy will act on (raw observations of this env are passed in).
        path: The agent's ``.zip`` (its ``.json``, ``.policy.npz`` and ``.obs_rms.npz`` beside
            it; the zip itself need not exist).
        trust: Allow what runs code from the agent's files: unpickling a legacy agent (no
            safe files) and importing wrappers that are not the project's own.

    Raises:
        PolicyError: missing files, an env the agent was not trained for, or (untrusted) an
            agent that could only be loaded by running code from its files.
    """

    name = "agent"
    privileged = False

    def __init__(self, env: gym.Env, path: str | Path, trust: bool = False, **params: Any) -> None:
        super().__init__(env, path=str(path), **params)
        self.files = agent_files(path)
        self.manifest = read_manifest(path)
        self.trust = bool(trust)
        if is_legacy(self.manifest) and not self.trust:
            raise PolicyError(
                f"agent {self.files.model} has only the pickled files (zip and "
                ".vecnormalize.pkl); unpickling them runs any code they carry. Load it with "
                "--trust-agent (trust=True) only if you trust where it came from, or convert "
                "it once: python -m themis_env.agents.convert --trust-agent "
                f"{self.files.model}"
            )
        self.base = policy_view(env)
        if missing_members(self.base, PolicyView):
            raise PolicyError(f"agent {self.files.model} acts on an InferenceClusterEnv, not {env}")
        problems = interface_mismatches(self.manifest.get("interface") or {}, env)
        if problems:
            raise PolicyError(
                f"agent {self.files.model} was trained on a different env than scenario "
                f"{self.base.scenario.name!r}: " + "; ".join(problems)
            )
        self.spec = algo_spec(self.manifest["algo"])
        self.trained_action_mode = self.manifest.get("action_mode", "target")
        self.trained_obs_mode = self.manifest.get("obs_mode", "dict")
        self._wrappers = self._build_wrappers(env)
        self._check_action_route()
        cls = algo_class(self.manifest["algo"])
        if is_legacy(self.manifest):
            self.model = cls.load(
                str(self.files.model), device="cpu", custom_objects=schedule_objects(cls)
            )
            self._obs_rms = self._load_normalisation()
        else:
            # The policy object acts exactly as the algorithm's predict (which calls it).
            folder = self.files.manifest.parent
            self.model = build_policy(cls, self.manifest["policy"], folder)
            stats = self.manifest.get("obs_normalisation")
            self._obs_rms = load_obs_normaliser(stats, folder) if stats else None

    # ------------------------------------------------------------------ construction
    def _build_wrappers(self, env: gym.Env) -> list[gym.Wrapper]:
        specs = [
            w
            for w in self.manifest.get("env_wrapper") or []
            if wrapper_path(w) not in TRAINING_ONLY_WRAPPERS
        ]
        chain: list[gym.Wrapper] = []
        inner: gym.Env = env
        try:
            resolved = import_wrappers(specs, trusted=self.trust)
        except ConfigError as exc:
            raise PolicyError(f"agent {self.files.model}: {exc}") from exc
        for path, cls, kwargs in resolved:
            if isinstance(cls, type) and issubclass(cls, gym.ObservationWrapper):
                if self.base.obs_mode != self.trained_obs_mode:
                    raise PolicyError(
                        f"agent {self.files.model} uses observation wrapper {path}; build the env "
                        f"with obs_mode={self.trained_obs_mode!r}"
                    )
            if isinstance(cls, type) and issubclass(cls, gym.ActionWrapper):
                agnostic = path in _MODE_AGNOSTIC_WRAPPERS
                if not agnostic and self.base.action_mode != self.trained_action_mode:
                    raise PolicyError(
                        f"agent {self.files.model} uses action wrapper {path}; build the env with "
                        f"action_mode={self.trained_action_mode!r}"
                    )
            try:
                inner = cls(inner, **kwargs)
            except ConfigError as exc:
                raise PolicyError(f"agent {self.files.model}: {exc}") from exc
            chain.append(inner)
        return chain

    def _check_action_route(self) -> None:
        self._has_action_wrapper = any(isinstance(w, gym.ActionWrapper) for w in self._wrappers)
        env_mode = self.base.action_mode
        self._translate = not self._has_action_wrapper and env_mode != self.trained_action_mode
        if self._translate and env_mode == "delta":
            raise PolicyError(
                f"agent {self.files.model} was trained with action_mode="
                f"{self.trained_action_mode!r}; a 'delta' env cannot express its targets in one "
                f"step: build the env with action_mode={self.trained_action_mode!r} (or 'target')"
            )
        self._codec = make_codec(self.trained_action_mode, self.base.stage_limits)

    def _load_normalisation(self) -> Any:
        """A legacy agent's pickled VecNormalize (only ever reached with ``trust``)."""
        name = self.manifest.get("vecnormalize")
        if not name:
            return None
        path = self.files.vecnormalize
        if not path.is_file():
            raise PolicyError(
                f"agent {self.files.model} was trained with VecNormalize but {path.name} is "
                "missing beside it"
            )
        with path.open("rb") as fh:
            vec_normalize = pickle.load(fh)  # noqa: S301 - SB3's own format, a local file
        vec_normalize.training = False
        return vec_normalize

    # ------------------------------------------------------------------ acting
    def transform_obs(self, obs: Any) -> Any:
        """The observation as the network saw it in training (before normalisation)."""
        if self.trained_obs_mode == "flat" and isinstance(obs, dict):
            keys = self.base.layout.keys
            obs = np.concatenate([np.asarray(obs[k], dtype=np.float32) for k in keys])
        elif self.trained_obs_mode == "dict" and not isinstance(obs, dict):
            obs = self.base.obs_as_dict(obs)
        for wrapper in self._wrappers:
            if isinstance(wrapper, gym.ObservationWrapper):
                obs = wrapper.observation(obs)
        if self._obs_rms is not None:
            obs = self._obs_rms.normalize_obs(obs)
        return obs

    def _masks(self) -> np.ndarray | None:
        if not self.spec.maskable:
            return None
        outer = self._wrappers[-1] if self._wrappers else None
        if outer is not None and hasattr(outer, "action_masks"):
            return np.asarray(outer.action_masks(), dtype=bool)
        # The masks of the agent's own action form, whatever form the env uses.
        masks = self._codec.masks(self.base.current_targets, self.base.free_cores())
        return np.asarray(masks, dtype=bool)

    def reset(self) -> None:
        """Start an episode: wrappers that keep an episode's state (``start_episode``) forget it."""
        for wrapper in self._wrappers:
            start = getattr(wrapper, "start_episode", None)
            if callable(start):
                start()

    def act(self, obs: Any) -> np.ndarray:
        """The deterministic action for one raw observation of the env."""
        # An action wrapper that runs a controller on the raw observation (ThemisHeadroom)
        # is handed it here: the env is stepped by the caller, not through the wrappers.
        for wrapper in self._wrappers:
            observe = getattr(wrapper, "observe", None)
            if callable(observe):
                observe(obs)
        net_obs = self.transform_obs(obs)
        masks = self._masks()
        if masks is not None:
            action, _ = self.model.predict(net_obs, deterministic=True, action_masks=masks)
        else:
            action, _ = self.model.predict(net_obs, deterministic=True)
        for wrapper in reversed(self._wrappers):
            if isinstance(wrapper, gym.ActionWrapper):
                action = wrapper.action(action)
        if self._translate:
            targets, _ = self._codec.decode(action, self.base.current_targets)
            action = self.base.encode_targets(targets)
        return action

    def describe(self) -> dict[str, Any]:
        """Name, file and the training record (algorithm, scenarios, seed, command)."""
        m = self.manifest
        return {
            "name": self.name,
            "privileged": self.privileged,
            "params": {"path": str(self.files.model)},
            "algo": m.get("algo"),
            "trained_on": m.get("scenarios"),
            "timesteps": m.get("timesteps_trained"),
            "seed": m.get("seed"),
            "command": m.get("command"),
            "action_mode": self.trained_action_mode,
            "obs_mode": self.trained_obs_mode,
        }


def load_agent(path: str, env: gym.Env, trust: bool = False) -> Policy:
    """Load the agent saved as ``path`` (``.zip``) to act on ``env``.

    Args:
        path: The agent's ``.zip`` (its other files beside it).
        env: The env it acts on.
        trust: Allow loading what runs code from the agent's files (see :class:`AgentPolicy`).

    Raises:
        PolicyError: when the files are missing, ``env`` does not match the agent, or the
            agent needs ``trust``.
    """
    return AgentPolicy(env, path, trust=trust)


# ---------------------------------------------------------------------- command line
def run_episode(policy: Policy, env: gym.Env, seed: int) -> dict[str, Any]:
    """One episode (:func:`~themis_env.evaluation.rollout.rollout`) as a row of this tool.

    The row holds the KPIs a summary shows, the return (sum of rewards), steps, the trace and
    the wall time.
    """
    episode = rollout(env, policy, seed)
    kpis = episode.kpis or {}
    return {
        "seed": seed,
        "return": kpis["return"],
        "steps": episode.steps,
        "wall_s": episode.wall_s,
        "trace_uri": episode.trace_uri or "",
        **{k: kpis.get(k) for k in _EPISODE_KPIS},
        "trace_fallback": episode.trace_fallback,
    }


def _summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("return", "slo_violation_rate", "mean_cores", "cost")
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def _evaluate(label: str, make_policy: Any, env: gym.Env, seeds: Sequence[int]) -> dict[str, Any]:
    policy = make_policy(env)
    rows = [run_episode(policy, env, s) for s in seeds]
    return {"policy": label, "episodes": rows, **_summary(rows)}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m themis_env.agents.evaluate``."""
    parser = argparse.ArgumentParser(
        prog="python -m themis_env.agents.evaluate",
        description="Evaluate a trained agent (deterministic) on scenarios, optionally beside "
        "baselines.",
    )
    parser.add_argument(
        "path", help="the agent's .zip (its .json, .policy.npz and .obs_rms.npz beside it)"
    )
    parser.add_argument("--scenario", action="append", default=None, help="repeatable")
    parser.add_argument("--seeds", type=int, default=3, help="episodes per scenario, seeds 0..N-1")
    parser.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="POLICY",
        help="baselines (themis_env.baselines.make_policy names) to run on the same scenarios "
        "and seeds",
    )
    parser.add_argument("--json", default=None, help="write the full results here")
    parser.add_argument(
        "--trust-agent",
        action="store_true",
        help="allow a legacy agent (pickled zip and statistics, which run code when loaded) "
        "or foreign wrappers; only for agents whose source you trust",
    )
    args = parser.parse_args(argv)
    scenarios = args.scenario or ["smoke-video"]
    seeds = list(range(args.seeds))
    try:
        import torch

        torch.set_num_threads(1)
        env_kwargs = required_env_kwargs(args.path)
        results = []
        for scenario in scenarios:
            ref = resolve_scenario(scenario)
            env = gym.make(GENERIC_ENV_ID, scenario=ref, **env_kwargs)
            row = _evaluate(
                "agent", lambda e: load_agent(args.path, e, args.trust_agent), env, seeds
            )
            results.append({"scenario": scenario, **row})
            for name in args.compare:
                from themis_env.baselines import make_policy

                base_env = gym.make(GENERIC_ENV_ID, scenario=ref)
                try:
                    row = _evaluate(name, lambda e, n=name: make_policy(n, e), base_env, seeds)
                except PolicyError as exc:
                    print(f"themis_env.agents.evaluate: skipping {name}: {exc}", file=sys.stderr)
                    continue
                results.append({"scenario": scenario, **row})
    except ThemisError as exc:
        print(f"themis_env.agents.evaluate: error: {exc}", file=sys.stderr)
        return 2
    print(f"{'scenario':<26} {'policy':<12} {'violation':>9} {'mean cores':>10} {'return':>9}")
    for r in results:
        print(
            f"{r['scenario']:<26} {r['policy']:<12} {r['slo_violation_rate']:>9.4f} "
            f"{r['mean_cores']:>10.2f} {r['return']:>9.1f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    keys = ("scenario", "policy", "slo_violation_rate", "mean_cores", "cost", "return")
    summary = [{k: r[k] for k in keys} for r in results]
    print(json.dumps({"path": args.path, "seeds": len(seeds), "results": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
