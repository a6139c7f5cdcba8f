"""Read hyperparameters from the rl-zoo3 YAML files in ``configs/agents/<algo>.yml``.

The files follow the rl-zoo3 format, so ``python -m rl_zoo3.train --gym-packages themis_env
-conf configs/agents/ppo.yml ...`` reads them too: a top-level key per env id (``default`` for
every other id); inside, the keys rl-zoo3 consumes itself (``n_envs``, ``n_timesteps``,
``policy``, ``normalize``, ``env_kwargs``, ``env_wrapper``, ``noise_type``, ``noise_std``) and
everything else goes to the algorithm's constructor. Schedules are ``lin_<value>`` strings and
``policy_kwargs`` may be a Python expression string, as in rl-zoo3.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from themis_env.config import load_yaml
from themis_env.errors import ConfigError, did_you_mean
from themis_env.resources import configs_dir

__all__ = [
    "ZOO_KEYS",
    "UNSUPPORTED_ZOO_KEYS",
    "HyperParams",
    "LinearSchedule",
    "config_path",
    "load_hyperparams",
]

# Keys rl-zoo3 consumes itself (everything else is an algorithm constructor argument).
ZOO_KEYS = (
    "n_envs",
    "n_timesteps",
    "policy",
    "normalize",
    "env_kwargs",
    "env_wrapper",
    "noise_type",
    "noise_std",
    "monitor_kwargs",
)
# rl-zoo3 keys themis_env.agents.train does not implement (rl_zoo3.train does).
UNSUPPORTED_ZOO_KEYS = ("vec_env_wrapper", "frame_stack", "callback")
_SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")


class LinearSchedule:
    """``lin_<v>``: the value falls linearly from v to 0 over training (picklable)."""

    def __init__(self, initial: float) -> None:
        self.initial = float(initial)

    def __call__(self, progress_remaining: float) -> float:
        """The value at ``progress_remaining`` (1 at the start, 0 at the end)."""
        return progress_remaining * self.initial

    def __repr__(self) -> str:
        return f"lin_{self.initial:g}"


@dataclass
class HyperParams:
    """One algorithm's hyperparameters for one env id, as written in the YAML file.

    Attributes:
        algo: Algorithm name (``ppo``, ``dqn``, ...).
        env_id: The env id they were looked up for.
        source: The YAML file.
        section: The top-level key used (the env id or ``default``).
        n_envs: Parallel training envs.
        n_timesteps: Training budget [env steps].
        policy: SB3 policy name.
        normalize: VecNormalize keyword arguments, or None for no normalisation.
        env_kwargs: Keyword arguments of ``gym.make``.
        env_wrapper: rl-zoo3 wrapper list: import paths, or one-key mappings path -> kwargs.
        noise_type: Action noise for off-policy continuous algorithms (``normal``) or None.
        noise_std: Standard deviation of that noise.
        algo_kwargs: Constructor arguments, as written (strings not yet converted).
    """

    algo: str
    env_id: str
    source: Path
    section: str
    n_envs: int = 1
    n_timesteps: int = 100_000
    policy: str = "MlpPolicy"
    normalize: dict[str, Any] | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    env_wrapper: list[Any] = field(default_factory=list)
    noise_type: str | None = None
    noise_std: float = 0.1
    algo_kwargs: dict[str, Any] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """Plain data for the run manifest."""
        return {
            "source": str(self.source),
            "section": self.section,
            "n_envs": self.n_envs,
            "n_timesteps": self.n_timesteps,
            "policy": self.policy,
            "normalize": self.normalize,
            "env_kwargs": copy.deepcopy(self.env_kwargs),
            "env_wrapper": copy.deepcopy(self.env_wrapper),
            "noise_type": self.noise_type,
            "noise_std": self.noise_std,
            "algo_kwargs": copy.deepcopy(self.algo_kwargs),
        }

    def model_kwargs(self, algo_class: type, action_dim: int | None = None) -> dict[str, Any]:
        """Constructor arguments with schedules, ``policy_kwargs`` and action noise built.

        Raises:
            ConfigError: for a key the algorithm's constructor does not take.
        """
        kwargs = copy.deepcopy(self.algo_kwargs)
        accepted = set(inspect.signature(algo_class.__init__).parameters) - {"self", "kwargs"}
        for key in kwargs:
            if key not in accepted:
                raise ConfigError(
                    f"{self.source} [{self.section}]: {key!r} is not an argument of "
                    f"{algo_class.__name__}.{did_you_mean(key, accepted)} rl-zoo3 keys: "
                    f"{', '.join(ZOO_KEYS)}"
                )
        for key in _SCHEDULE_KEYS:
            value = kwargs.get(key)
            if isinstance(value, str):
                kwargs[key] = _schedule(value, f"{self.source} [{self.section}] {key}")
        if isinstance(kwargs.get("policy_kwargs"), str):
            kwargs["policy_kwargs"] = _policy_kwargs(kwargs["policy_kwargs"], self.source)
        if isinstance(kwargs.get("train_freq"), list):
            kwargs["train_freq"] = tuple(kwargs["train_freq"])
        if self.noise_type is not None:
            kwargs["action_noise"] = self._action_noise(action_dim)
        return kwargs

    def _action_noise(self, action_dim: int | None) -> Any:
        from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

        if action_dim is None:
            raise ConfigError(f"{self.source}: noise_type needs a Box action space")
        mean, sigma = np.zeros(action_dim), self.noise_std * np.ones(action_dim)
        if self.noise_type == "normal":
            return NormalActionNoise(mean=mean, sigma=sigma)
        if self.noise_type == "ornstein-uhlenbeck":
            return OrnsteinUhlenbeckActionNoise(mean=mean, sigma=sigma)
        raise ConfigError(
            f"{self.source} [{self.section}]: noise_type = {self.noise_type!r}; allowed: "
            "'normal', 'ornstein-uhlenbeck'"
        )


def _schedule(text: str, where: str) -> LinearSchedule:
    kind, _, value = text.partition("_")
    try:
        number = float(value)
    except ValueError:
        number = None
    if kind != "lin" or number is None:
        raise ConfigError(f"{where} = {text!r}: write a schedule as 'lin_<number>', e.g. lin_3e-4")
    return LinearSchedule(number)


def _policy_kwargs(text: str, source: Path) -> dict[str, Any]:
    """Evaluate an rl-zoo3 ``policy_kwargs`` string such as ``dict(net_arch=[64, 64])``.

    Only ``dict``, the torch module (``th``) and ``torch.nn`` (``nn``) are in scope: the
    string comes from a config file, not from untrusted input, but a typo should fail clearly.
    """
    import torch

    scope = {"__builtins__": {}, "dict": dict, "nn": torch.nn, "th": torch}
    try:
        value = eval(text, scope)  # noqa: S307 - rl-zoo3's format for policy_kwargs
    except Exception as exc:  # noqa: BLE001 - report any parse error with the file
        raise ConfigError(f"{source}: policy_kwargs = {text!r} does not evaluate: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: policy_kwargs = {text!r} must evaluate to a dict")
    return value


def _normalize_kwargs(value: Any, gamma: Any, source: Path) -> dict[str, Any] | None:
    if value in (None, False):
        return None
    if value is True:
        kwargs: dict[str, Any] = {}
    elif isinstance(value, dict):
        kwargs = dict(value)
    elif isinstance(value, str):
        try:
            kwargs = eval(value, {"__builtins__": {}, "dict": dict})  # noqa: S307 - rl-zoo3 format
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"{source}: normalize = {value!r} does not evaluate: {exc}") from exc
    else:
        raise ConfigError(f"{source}: normalize = {value!r}; give true, false or 'dict(...)'")
    # rl-zoo3 discounts the reward normaliser with the algorithm's gamma; so do we.
    if isinstance(gamma, (int, float)):
        kwargs["gamma"] = float(gamma)
    return kwargs


def config_path(algo: str) -> Path:
    """The shipped YAML file of an algorithm."""
    return configs_dir() / "agents" / f"{algo}.yml"


def load_hyperparams(
    algo: str,
    env_id: str,
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> HyperParams:
    """Hyperparameters of ``algo`` for ``env_id`` (falling back to the ``default`` section).

    Args:
        algo: Algorithm name; picks ``configs/agents/<algo>.yml`` unless ``path`` is given.
        env_id: Env id to look up.
        path: Another YAML file in the same format.
        overrides: Top-level keys replacing the file's (``env_kwargs`` entries are merged).

    Raises:
        ConfigError: missing file or section, unsupported rl-zoo3 keys, malformed values.
    """
    source = Path(path) if path is not None else config_path(algo)
    if not source.is_file():
        raise ConfigError(f"hyperparameter file {source} does not exist")
    data = load_yaml(source) or {}  # malformed YAML (or a Python tag) is a ConfigError
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must map env ids to hyperparameters")
    section = env_id if env_id in data else "default"
    if section not in data:
        raise ConfigError(
            f"{source}: no section for {env_id!r} and no 'default' section; sections: "
            f"{', '.join(map(str, data))}"
        )
    raw = copy.deepcopy(data[section])
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} [{section}]: expected a mapping of hyperparameters")
    for key, value in (overrides or {}).items():
        if key == "env_kwargs" and isinstance(value, dict):
            raw.setdefault("env_kwargs", {}).update(value)
        else:
            raw[key] = value
    unsupported = sorted(set(raw) & set(UNSUPPORTED_ZOO_KEYS))
    if unsupported:
        raise ConfigError(
            f"{source} [{section}]: {unsupported} are rl-zoo3 features "
            "themis_env.agents.train does not implement; remove them or train with "
            "python -m rl_zoo3.train"
        )
    wrappers = raw.pop("env_wrapper", None) or []
    if not isinstance(wrappers, list):
        wrappers = [wrappers]
    try:
        return HyperParams(
            algo=algo,
            env_id=env_id,
            source=source,
            section=section,
            n_envs=int(raw.pop("n_envs", 1)),
            n_timesteps=int(float(raw.pop("n_timesteps", 100_000))),
            policy=str(raw.pop("policy", "MlpPolicy")),
            normalize=_normalize_kwargs(raw.pop("normalize", None), raw.get("gamma"), source),
            env_kwargs=dict(raw.pop("env_kwargs", None) or {}),
            env_wrapper=wrappers,
            noise_type=raw.pop("noise_type", None),
            noise_std=float(raw.pop("noise_std", 0.1)),
            algo_kwargs={k: v for k, v in raw.items() if k != "monitor_kwargs"},
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source} [{section}]: {exc}") from exc
