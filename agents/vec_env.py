"""stable-baselines3's ``VecEnv`` over the native vector env: N clusters in one compiled call.

:class:`ClusterVecEnv` gives SB3 (PPO, A2C, ``VecNormalize``, ``EvalCallback``,
``evaluate_policy``) the batch of :class:`~themis_env.envs.vector.InferenceClusterVectorEnv`
with SB3's conventions: a cluster whose episode ends is reset at once, its last observation in
``info["terminal_observation"]`` and ``info["TimeLimit.truncated"]`` set for bootstrapping;
each finished episode's return, length and time in ``info["episode"]`` and, given a folder, a
row in ``<folder>/<rank>.monitor.csv``: what a ``Monitor`` around each env would record.

The rl-zoo3 ``env_wrapper`` chain of an agent is kept, per cluster: its action wrappers
(``FitDeltaAction``, ``FitScaleAction``) turn each cluster's action into the env's in a
Python loop, and its reset wrappers (``RandomWindowReset``) start each cluster's episodes.
A wrapper that changes observations, rewards or a step's result (``ClipAction`` counts in
``info``) cannot sit under a batched step: :func:`native_wrappers` says which.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor, ResultsWriter
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from themis_env.envs.vector import InferenceClusterVectorEnv

__all__ = ["ClusterVecEnv", "make_cluster_vec_env", "native_wrappers"]

WrapperChain = Sequence[tuple[str, Callable[..., gym.Env], dict[str, Any]]]


def native_wrappers(chain: WrapperChain) -> str | None:
    """None if every wrapper of ``chain`` can run around a cluster of a batch, else why not.

    Allowed: action wrappers that only override ``action``, and wrappers that only override
    ``reset``.
    """
    for path, cls, _ in chain:
        if not isinstance(cls, type) or not issubclass(cls, gym.Wrapper):
            return f"{path} is not a gymnasium.Wrapper"
        base = gym.ActionWrapper if issubclass(cls, gym.ActionWrapper) else gym.Wrapper
        for name in ("step", "observation", "reward"):
            if getattr(cls, name, None) is not getattr(base, name, None):
                return f"{path} overrides {name}(), which a batched step cannot call"
    return None


def make_cluster_vec_env(
    env_id: str,
    n_envs: int,
    wrappers: WrapperChain = (),
    monitor_dir: str | Path | None = None,
    **env_kwargs: Any,
) -> ClusterVecEnv:
    """An SB3 ``VecEnv`` of ``n_envs`` clusters of ``env_id``, stepped in one compiled call.

    Example:
        >>> from stable_baselines3 import PPO  # doctest: +SKIP
        >>> venv = make_cluster_vec_env("themis_env/Video-Bursty-v1", 16, obs_mode="flat")
        >>> model = PPO("MlpPolicy", venv).learn(10_000)  # doctest: +SKIP

    Args:
        env_id: A registered id.
        n_envs: Clusters.
        wrappers: As :class:`ClusterVecEnv`'s.
        monitor_dir: As :class:`ClusterVecEnv`'s.
        **env_kwargs: Keywords of the env (scenario, action_mode, obs_mode, overrides).
    """
    venv = gym.make_vec(
        env_id,
        num_envs=n_envs,
        vectorization_mode="vector_entry_point",
        autoreset_mode="disabled",
        **env_kwargs,
    )
    return ClusterVecEnv(venv, wrappers, monitor_dir)  # type: ignore[arg-type]


class ClusterVecEnv(VecEnv):
    """SB3 ``VecEnv`` over an :class:`InferenceClusterVectorEnv` (made with autoreset disabled).

    Args:
        venv: The native vector env, built with ``autoreset_mode="disabled"``.
        wrappers: The rl-zoo3 ``env_wrapper`` chain, as ``agents.envs.import_wrappers`` gives
            it (innermost first), applied around each cluster.
        monitor_dir: Folder of the per-cluster ``<rank>.monitor.csv`` files (None: none).
        info_keywords: Step-info keys of the env recorded with each episode (``trace_uri``).

    Raises:
        ConfigError: via :func:`native_wrappers`' reason, for a wrapper that cannot run here.
    """

    def __init__(
        self,
        venv: InferenceClusterVectorEnv,
        wrappers: WrapperChain = (),
        monitor_dir: str | Path | None = None,
        info_keywords: Sequence[str] = ("trace_uri",),
    ) -> None:
        from themis_env.errors import ConfigError

        if (why := native_wrappers(wrappers)) is not None:
            raise ConfigError(f"env_wrapper cannot run on the native vector env: {why}")
        if venv.autoreset_mode != gym.vector.AutoresetMode.DISABLED:
            raise ConfigError("ClusterVecEnv needs the native vector env's autoreset disabled")
        self.venv = venv
        self.envs: list[gym.Env] = []
        self._action_layers: list[list[gym.ActionWrapper]] = []
        for env in venv.envs:
            top: gym.Env = env
            layers = []
            for _, cls, kwargs in wrappers:
                top = cls(top, **kwargs)
                if isinstance(top, gym.ActionWrapper):
                    layers.append(top)
            self.envs.append(top)
            self._action_layers.append(layers[::-1])  # outermost first
        venv.resetters = [top.reset for top in self.envs]
        super().__init__(venv.num_envs, venv.single_observation_space, self.envs[0].action_space)
        self._info_keywords = tuple(info_keywords)
        self._writers: list[ResultsWriter] | None = None
        self._t_start = time.time()
        if monitor_dir is not None:
            Path(monitor_dir).mkdir(parents=True, exist_ok=True)
            spec_id = venv.spec.id if venv.spec is not None else None
            self._writers = [
                ResultsWriter(
                    str(Path(monitor_dir) / str(rank)),
                    header={"t_start": self._t_start, "env_id": str(spec_id)},
                    extra_keys=self._info_keywords,
                )
                for rank in range(self.num_envs)
            ]
        self._returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._actions: np.ndarray | None = None

    # ------------------------------------------------------------------ VecEnv API
    def reset(self) -> Any:
        """Reset every cluster with the seeds and options given since the last reset."""
        seeds = list(self._seeds)
        opts = self._options
        if all(o == opts[0] for o in opts):
            obs, _ = self.venv.reset(seed=seeds, options=dict(opts[0]) or None)
        else:  # one reset per distinct options
            obs = None
            for i, o in enumerate(opts):
                mask = np.zeros(self.num_envs, dtype=bool)
                mask[i] = True
                obs, _ = self.venv.reset(seed=seeds, options={**o, "reset_mask": mask})
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Keep the actions: the wrappers' ``action`` turn them into the clusters'.

        A wrapper class with a ``batch`` static method (``FitDeltaAction``) does every
        cluster in one call: ``batch(wrappers, actions, current targets, free cores)``.
        """
        for depth in range(len(self._action_layers[0])):
            layers = [chain[depth] for chain in self._action_layers]
            batched = getattr(type(layers[0]), "batch", None)
            if batched is not None:
                actions = batched(
                    layers, actions, self.venv.current_targets, self.venv.free_cores()
                )
            else:
                actions = np.stack([w.action(a) for w, a in zip(layers, actions, strict=True)])
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        """Step every cluster; reset those whose episode ended (SB3's autoreset)."""
        assert self._actions is not None, "step_async first"
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        self._returns += reward
        self._lengths += 1
        dones = terminated | truncated
        time_limit = (truncated & ~terminated).tolist()
        infos: list[dict[str, Any]] = [{"TimeLimit.truncated": t} for t in time_limit]
        ended = np.flatnonzero(dones).tolist()
        if ended:
            kpis = info.get("episode_kpis", {})
            for i in ended:
                infos[i].update(self._episode_info(i, obs))
                if kpis:
                    infos[i]["episode_kpis"] = {
                        k: v[i].item() if isinstance(v[i], np.generic) else v[i]
                        for k, v in kpis.items()
                        if not k.startswith("_")
                    }
            obs, _ = self.venv.reset(options={"reset_mask": dones})
        return obs, reward.astype(np.float32), dones, infos

    def _episode_info(self, i: int, obs: Any) -> dict[str, Any]:
        terminal = {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]
        episode = {
            "r": round(float(self._returns[i]), 6),
            "l": int(self._lengths[i]),
            "t": round(time.time() - self._t_start, 6),
        }
        workload = self.venv.envs[i].workload
        extra = {"trace_uri": workload.uri if workload is not None else None}
        for key in self._info_keywords:
            episode[key] = extra.get(key)
        if self._writers is not None:
            self._writers[i].write_row(episode)
        self._returns[i] = 0.0
        self._lengths[i] = 0
        return {
            "terminal_observation": terminal,
            "episode": episode,
            **extra,
        }

    def close(self) -> None:
        """Close the clusters and the monitor files."""
        self.venv.close()
        for writer in self._writers or []:
            writer.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """An attribute of each (wrapped) cluster env."""
        return [self.envs[i].get_wrapper_attr(attr_name) for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute on each (wrapped) cluster env."""
        for i in self._get_indices(indices):
            setattr(self.envs[i], attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        """A method of each (wrapped) cluster env (``action_masks`` for MaskablePPO)."""
        return [
            self.envs[i].get_wrapper_attr(method_name)(*method_args, **method_kwargs)
            for i in self._get_indices(indices)
        ]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        """Whether each cluster is wrapped in ``wrapper_class``.

        ``Monitor``: yes, as far as SB3 asks (its ``info["episode"]`` records are this
        adapter's).
        """
        from stable_baselines3.common.env_util import is_wrapped

        return [
            wrapper_class is Monitor or is_wrapped(self.envs[i], wrapper_class)
            for i in self._get_indices(indices)
        ]

    def get_images(self) -> Sequence[np.ndarray | None]:
        """No images: the native vector env does not render."""
        return [None] * self.num_envs
