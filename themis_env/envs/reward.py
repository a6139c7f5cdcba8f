"""The reward of a decision interval: one definition for the single and the native vector env.

``−(w_slo · violation + w_cost · max(0, cost_rate − cost_budget) / cost_scale)``, plus
``w_accuracy · accuracy`` where the pipeline declares accuracies. :func:`reward_terms` is
that formula on floats: the single env runs it as Python, the native vector env compiled
(numba, :func:`cluster_reward`, in one call for all its clusters). Both execute the same IEEE
operations in the same order, so a cluster of a vector env gets its single env's reward bit
for bit (tested).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from themis_env.config.schema import RewardConfig
from themis_env.sim import kernel as K

__all__ = ["cluster_reward", "reward_inputs", "reward_terms", "reward_weights", "step_reward"]

# The weights as vector_rewards reads them: reward_weights(...)[W_*]
W_SLO = 0
W_COST = 1
W_BUDGET = 2
W_ACCURACY = 3
W_COST_SCALE = 4
W_MEMORY_EQUIVALENT = 5  # 1: the cost is the memory-equivalent one, 0: core-seconds
W_HAS_ACCURACY = 6  # 1: the pipeline declares accuracies
N_WEIGHTS = 7


def reward_terms(
    w_slo: float,
    w_cost: float,
    cost_budget: float,
    w_accuracy: float,
    violation: float,
    cost_rate: float,
    cost_scale: float,
    accuracy: float,
) -> tuple[float, float, float, float]:
    """The reward and its three terms: SLO and cost (as subtracted), accuracy (as added).

    Plain float arithmetic that numba compiles as it is (:func:`cluster_reward`).
    ``max(excess, 0.0)`` is spelled as Python's ``max`` evaluates it (the first argument
    unless the second is larger), so compiled and interpreted agree on signed zeros.
    """
    slo_term = w_slo * violation
    excess = cost_rate - cost_budget
    weighted_cost = w_cost * ((0.0 if 0.0 > excess else excess) / cost_scale)
    reward = -(slo_term + weighted_cost)
    term = w_accuracy * accuracy
    # Adding a zero term would turn a reward of -0.0 into 0.0: only a non-zero term is added.
    if term != 0.0:
        reward += term
    return reward, slo_term, weighted_cost, term


_reward_terms = njit(cache=True, inline="always")(reward_terms)


def reward_inputs(
    memory_equivalent: bool,
    has_accuracy: bool,
    core_seconds: float,
    memory_cost: float,
    accuracy_sum: float,
    completed: float,
    duration: float,
) -> tuple[float, float, float]:
    """An interval's cost, cost per second and accuracy, as the reward reads them.

    The cost is the memory-equivalent one or core-seconds, as the scenario counts it; the
    accuracy is the mean over the interval's completions (0 without completions or without
    accuracies). Like :func:`reward_terms`, the single env runs it as Python and the native
    vector env compiled (:func:`cluster_reward`).
    """
    cost = memory_cost if memory_equivalent else core_seconds
    accuracy = accuracy_sum / completed if has_accuracy and completed > 0 else 0.0
    return cost, cost / duration, accuracy


_reward_inputs = njit(cache=True, inline="always")(reward_inputs)


def step_reward(
    w: RewardConfig,
    violation: float,
    cost_rate: float,
    cost_scale: float,
    accuracy: float | None,
) -> tuple[float, float, float, float | None]:
    """:func:`reward_terms` for one interval, with the scenario's weights.

    Args:
        w: The scenario's reward weights.
        violation: The interval's SLO violation.
        cost_rate: Allocated cores (or memory-equivalent GB) per second over the interval.
        cost_scale: What the cost rate is divided by (the whole cluster's, by default).
        accuracy: The interval's pipeline accuracy, or None for a pipeline without accuracies
            (its term is then 0, and returned as None).
    """
    reward, slo_term, weighted_cost, term = reward_terms(
        w.w_slo,
        w.w_cost,
        w.cost_budget,
        w.w_accuracy,
        violation,
        cost_rate,
        cost_scale,
        0.0 if accuracy is None else accuracy,
    )
    return reward, slo_term, weighted_cost, None if accuracy is None else term


def reward_weights(
    w: RewardConfig, cost_scale: float, memory_equivalent: bool, has_accuracy: bool
) -> np.ndarray:
    """The weights and switches :func:`cluster_reward` reads (float64, ``W_*``)."""
    weights = np.zeros(N_WEIGHTS)
    weights[W_SLO] = w.w_slo
    weights[W_COST] = w.w_cost
    weights[W_BUDGET] = w.cost_budget
    weights[W_ACCURACY] = w.w_accuracy
    weights[W_COST_SCALE] = cost_scale
    weights[W_MEMORY_EQUIVALENT] = memory_equivalent
    weights[W_HAS_ACCURACY] = has_accuracy
    return weights


@njit(cache=True, inline="always")
def cluster_reward(weights: np.ndarray, out: np.ndarray, duration: float) -> float:
    """The reward of a cluster's interval of ``duration`` s from its step output ``out``.

    ``out`` is ``kernel.O_*``; ``weights`` is :func:`reward_weights`. The inputs are the
    single env's: the cost per second, the accuracy of the completions (0 if none).
    """
    _, cost_rate, accuracy = _reward_inputs(
        weights[W_MEMORY_EQUIVALENT] > 0.0,
        weights[W_HAS_ACCURACY] > 0.0,
        out[K.O_CORE_SECONDS],
        out[K.O_MEMORY_COST],
        out[K.O_ACCURACY_SUM],
        out[K.O_COMPLETED],
        duration,
    )
    return _reward_terms(
        weights[W_SLO],
        weights[W_COST],
        weights[W_BUDGET],
        weights[W_ACCURACY],
        out[K.O_VIOLATION],
        cost_rate,
        weights[W_COST_SCALE],
        accuracy,
    )[0]
