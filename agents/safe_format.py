"""An agent's policy and normalisation statistics as plain data: loading them runs no code.

A stable-baselines3 zip carries cloudpickled fields and ``VecNormalize`` is saved with pickle,
so loading either runs whatever the file says. A leaderboard evaluates other people's agents,
so the agent loaded for acting is kept as data only, beside the zip:

* ``NAME.policy.npz``: the policy's state dict, one array per tensor;
* ``NAME.obs_rms.npz``: the observation mean and variance of ``VecNormalize`` (when used);
* in the manifest ``NAME.json``: the policy class (an alias of the algorithm, e.g.
  ``MlpPolicy``), its constructor arguments (classes by name, from an allow-list), the
  observation and action spaces, and the normalisation's ``epsilon`` and ``clip_obs``.

Both ``.npz`` files are read with ``numpy.load(allow_pickle=False)``, which reads raw arrays and
refuses object arrays; no unpickler runs at all (``torch.load(weights_only=True)`` runs a
restricted one, which has had bypasses). Building the policy imports only the algorithm's own
policy class and the allow-listed classes below, never a module named in a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from themis_env.errors import PolicyError

__all__ = [
    "ObsNormaliser",
    "load_policy_weights",
    "policy_record",
    "save_obs_rms",
    "save_policy_weights",
    "space_from_json",
    "space_to_json",
    "build_policy",
    "load_obs_normaliser",
]


_ACTIVATIONS = ("Tanh", "ReLU", "ELU", "LeakyReLU", "SiLU", "GELU")
_OPTIMIZERS = ("Adam", "AdamW", "RMSprop", "SGD")
_EXTRACTORS = ("FlattenExtractor", "CombinedExtractor")


def _allowed_classes() -> dict[str, type]:
    """The classes a policy's constructor arguments may name: what the project trains with."""
    import torch
    from stable_baselines3.common import torch_layers

    # Public names (not the defining modules, which move between torch versions).
    classes = {f"torch.nn.{c}": getattr(torch.nn, c) for c in _ACTIVATIONS}
    classes.update({f"torch.optim.{c}": getattr(torch.optim, c) for c in _OPTIMIZERS})
    for c in _EXTRACTORS:
        classes[f"stable_baselines3.common.torch_layers.{c}"] = getattr(torch_layers, c)
    return classes


# ---------------------------------------------------------------------------- spaces
def _floats(values: np.ndarray) -> list[Any]:
    # JSON has no infinity; a float32 bound is exact as a Python float (float64) repr.
    return [v if np.isfinite(v) else str(v) for v in np.asarray(values, np.float64).ravel()]


def space_to_json(space: spaces.Space) -> dict[str, Any]:
    """A Box, Discrete, MultiDiscrete or Dict space as JSON data (exact bounds and dtypes).

    Raises:
        PolicyError: for another kind of space.
    """
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": _floats(space.low),
            "high": _floats(space.high),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": np.asarray(space.nvec).tolist(),
            "start": np.asarray(space.start).tolist(),
            "dtype": str(space.dtype),
        }
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(v) for k, v in space.spaces.items()}}
    raise PolicyError(
        f"space {space} cannot be stored as data; allowed: Box, Discrete, MultiDiscrete, Dict"
    )


_DTYPES = ("float32", "float64", "int64", "int32", "int8", "uint8")


def _dtype(data: Mapping[str, Any]) -> np.dtype:
    name = data.get("dtype")
    if name not in _DTYPES:
        raise PolicyError(f"space dtype {name!r} is not allowed; allowed: {', '.join(_DTYPES)}")
    return np.dtype(name)


def space_from_json(data: Any) -> spaces.Space:
    """The space :func:`space_to_json` wrote.

    Raises:
        PolicyError: for malformed data or another kind of space.
    """
    kind = data.get("type") if isinstance(data, Mapping) else None
    try:
        if kind == "Box":
            shape = tuple(int(n) for n in data["shape"])
            dtype = _dtype(data)
            low = np.asarray([float(v) for v in data["low"]], dtype).reshape(shape)
            high = np.asarray([float(v) for v in data["high"]], dtype).reshape(shape)
            return spaces.Box(low, high, shape, dtype)
        if kind == "Discrete":
            return spaces.Discrete(int(data["n"]), start=int(data["start"]))
        if kind == "MultiDiscrete":
            dtype = _dtype(data)
            nvec = np.asarray(data["nvec"], dtype)
            return spaces.MultiDiscrete(nvec, dtype=dtype, start=np.asarray(data["start"], dtype))
        if kind == "Dict":
            return spaces.Dict({str(k): space_from_json(v) for k, v in data["spaces"].items()})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PolicyError(f"malformed {kind} space {data!r}: {exc}") from exc
    raise PolicyError(
        f"space type {kind!r} is not allowed; allowed: Box, Discrete, MultiDiscrete, Dict"
    )


# ---------------------------------------------------------------------------- policy
def _encode(value: Any, key: str, names: Mapping[type, str]) -> Any:
    if isinstance(value, type):
        if value not in names:
            raise PolicyError(
                f"policy argument {key} = {value.__module__}.{value.__qualname__} is not in the "
                f"allow-list: {', '.join(sorted(names.values()))}"
            )
        return {"class": names[value]}
    if isinstance(value, Mapping):
        return {str(k): _encode(v, f"{key}.{k}", names) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{key}[{i}]", names) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    raise PolicyError(f"policy argument {key} = {value!r} cannot be stored as data")


def _decode(value: Any, key: str, classes: Mapping[str, type]) -> Any:
    if isinstance(value, Mapping):
        if set(value) == {"class"}:
            name = value["class"]
            if name not in classes:
                raise PolicyError(
                    f"policy argument {key} names class {name!r}, which is not in the "
                    f"allow-list: {', '.join(sorted(classes))}"
                )
            return classes[name]
        return {k: _decode(v, f"{key}.{k}", classes) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, f"{key}[{i}]", classes) for i, v in enumerate(value)]
    return value


# Constructor arguments that are not data: the spaces are stored apart, the schedule matters
# only for training (the optimizer the policy builds is never stepped when acting).
_NOT_KWARGS = ("observation_space", "action_space", "lr_schedule")


def policy_record(algo_cls: type, policy: Any, weights_name: str) -> dict[str, Any]:
    """The manifest's ``policy`` entry for an SB3 ``policy`` of the algorithm ``algo_cls``.

    Raises:
        PolicyError: when the policy class is not one of the algorithm's aliases, or an
            argument is not plain data or an allow-listed class.
    """
    aliases = {cls: name for name, cls in algo_cls.policy_aliases.items()}
    if type(policy) not in aliases:
        raise PolicyError(
            f"policy class {type(policy).__qualname__} is not one of {algo_cls.__name__}'s "
            f"policies ({', '.join(algo_cls.policy_aliases)})"
        )
    names = {cls: name for name, cls in _allowed_classes().items()}
    params = policy._get_constructor_parameters()
    kwargs = {k: _encode(v, k, names) for k, v in params.items() if k not in _NOT_KWARGS}
    return {
        "weights": weights_name,
        "class": aliases[type(policy)],
        "kwargs": kwargs,
        "observation_space": space_to_json(policy.observation_space),
        "action_space": space_to_json(policy.action_space),
    }


def save_policy_weights(policy: Any, path: Path) -> None:
    """Write the policy's state dict to ``path`` (``.npz``, one array per tensor)."""
    state = {k: v.detach().cpu().numpy() for k, v in policy.state_dict().items()}
    with path.open("wb") as fh:
        np.savez(fh, **state)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of ``path``, read without unpickling (object arrays are refused)."""
    if not path.is_file():
        raise PolicyError(f"{path} is missing")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (ValueError, OSError) as exc:
        raise PolicyError(f"{path} is not a plain .npz of numeric arrays: {exc}") from exc


def load_policy_weights(path: Path) -> dict[str, Any]:
    """The state dict in ``path`` as torch tensors (read with ``allow_pickle=False``)."""
    import torch

    return {k: torch.from_numpy(v) for k, v in _read_npz(path).items()}


def build_policy(algo_cls: type, record: Mapping[str, Any], folder: Path) -> Any:
    """The SB3 policy the manifest's ``policy`` entry describes, with its weights loaded.

    Args:
        algo_cls: The algorithm class (from the project's own table of algorithms).
        record: The manifest's ``policy`` entry.
        folder: The folder of the manifest (the weights file is named relative to it).

    Raises:
        PolicyError: unknown policy class or argument class, malformed spaces, or weights
            that do not fit the network.
    """
    name = record.get("class")
    if name not in algo_cls.policy_aliases:
        raise PolicyError(
            f"policy class {name!r} is not one of {algo_cls.__name__}'s policies "
            f"({', '.join(algo_cls.policy_aliases)})"
        )
    kwargs = _decode(dict(record.get("kwargs") or {}), "kwargs", _allowed_classes())
    weights = Path(str(record.get("weights", "")))
    if weights.name != str(weights) or not weights.name.endswith(".npz"):
        raise PolicyError(f"policy weights {str(weights)!r} must be an .npz file name")
    policy = algo_cls.policy_aliases[name](
        space_from_json(record.get("observation_space")),
        space_from_json(record.get("action_space")),
        lambda _: 0.0,
        **kwargs,
    )
    try:
        policy.load_state_dict(load_policy_weights(folder / weights.name), strict=True)
    except RuntimeError as exc:
        raise PolicyError(f"{folder / weights.name} does not fit the policy: {exc}") from exc
    policy.set_training_mode(False)
    return policy


# ---------------------------------------------------------------------------- normalisation
@dataclass(frozen=True)
class ObsNormaliser:
    """``VecNormalize``'s observation transform with fixed statistics.

    Attributes:
        mean: Per key (``None`` for a flat observation) the running mean.
        var: Per key the running variance.
        epsilon: Added to the variance before the square root.
        clip_obs: Normalised values are clipped to ``[-clip_obs, clip_obs]``.
    """

    mean: dict[str | None, np.ndarray]
    var: dict[str | None, np.ndarray]
    epsilon: float
    clip_obs: float

    def _one(self, obs: np.ndarray, key: str | None) -> np.ndarray:
        # The same arithmetic as VecNormalize._normalize_obs, so actions match bit for bit.
        scaled = (obs - self.mean[key]) / np.sqrt(self.var[key] + self.epsilon)
        return np.clip(scaled, -self.clip_obs, self.clip_obs).astype(np.float32)

    def normalize_obs(self, obs: Any) -> Any:
        """The normalised observation (a dict: only the keys with statistics)."""
        if isinstance(obs, dict):
            out = dict(obs)
            for key in self.mean:
                out[key] = self._one(obs[key], key)
            return out
        return self._one(obs, None)


def save_obs_rms(vec_normalize: Any, path: Path) -> dict[str, Any] | None:
    """Write the observation statistics of ``vec_normalize`` to ``path``; the manifest entry.

    Returns:
        The manifest's ``obs_normalisation`` entry, or None when observations are not
        normalised.
    """
    if not vec_normalize.norm_obs:
        return None
    rms = vec_normalize.obs_rms
    keys = list(vec_normalize.norm_obs_keys) if isinstance(rms, dict) else None
    arrays = (
        {f"{part}.{k}": getattr(rms[k], part) for k in keys for part in ("mean", "var")}
        if keys is not None
        else {"mean": rms.mean, "var": rms.var}
    )
    with path.open("wb") as fh:
        np.savez(fh, **arrays)
    return {
        "file": path.name,
        "keys": keys,
        "epsilon": float(vec_normalize.epsilon),
        "clip_obs": float(vec_normalize.clip_obs),
    }


def load_obs_normaliser(record: Mapping[str, Any], folder: Path) -> ObsNormaliser:
    """The normaliser of the manifest's ``obs_normalisation`` entry.

    Raises:
        PolicyError: missing or malformed statistics.
    """
    name = str(record.get("file", ""))
    if Path(name).name != name or not name.endswith(".npz"):
        raise PolicyError(f"obs_normalisation file {name!r} must be an .npz file name")
    arrays = _read_npz(folder / name)
    keys = record.get("keys")
    wanted = [None] if keys is None else [str(k) for k in keys]
    try:
        mean = {k: arrays["mean" if k is None else f"mean.{k}"] for k in wanted}
        var = {k: arrays["var" if k is None else f"var.{k}"] for k in wanted}
        return ObsNormaliser(mean, var, float(record["epsilon"]), float(record["clip_obs"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"{folder / name}: malformed normalisation statistics: {exc}") from exc
