"""Helpers for policies on stages with model variants (IPA, InfAdapter, single-variant baselines).

With variants a stage's target is the replicas of each variant slot, then cores and batch (see
:class:`themis_env.envs.inference_cluster.InferenceClusterEnv`); these helpers build such targets
and read the variant mix back from an observation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from themis_env.envs.actions import StageLimits
from themis_env.errors import PolicyError, did_you_mean

__all__ = ["variant_index", "variant_target", "variant_replicas"]


def variant_index(limits: StageLimits, variant: str | int, policy: str) -> int:
    """Index of ``variant`` (a name or an index) among a stage's variants.

    Raises:
        PolicyError: naming the policy, the stage and the variants allowed.
    """
    names = list(limits.variants) or ["(its one model)"]
    if isinstance(variant, (int, np.integer)) and not isinstance(variant, bool):
        if 0 <= int(variant) < len(names):
            return int(variant)
    elif variant in names:
        return names.index(str(variant))
    raise PolicyError(
        f"{policy}: variant = {variant!r} is not a variant of stage {limits.name!r}."
        f"{did_you_mean(str(variant), names)} Choose a name or index of {names}"
    )


def variant_target(width: int, replicas: Sequence[int], cores: int, batch: int) -> list[int]:
    """One stage's target of ``width`` entries: replicas per variant slot, cores, batch.

    ``width`` 3 (no variants in the env) takes one replica count, the sum of ``replicas``.
    """
    if width == 3:
        return [int(sum(replicas)), int(cores), int(batch)]
    slots = [0] * (width - 2)
    for v, n in enumerate(replicas):
        slots[v] = int(n)
    return [*slots, int(cores), int(batch)]


def variant_replicas(obs: dict[str, np.ndarray], n_stages: int) -> np.ndarray:
    """Replicas per (stage, variant slot) that exist now, shape (S, V).

    The observation reports pending replicas per stage only, so they are not in this table.
    """
    table = np.rint(np.asarray(obs["variant_replicas"], dtype=np.float64)).astype(int)
    return table.reshape(n_stages, -1)
