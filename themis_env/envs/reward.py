"""The reward of a decision interval: one definition for the single and the native vector env.

``−(w_slo · violation + w_cost · max(0, cost_rate − cost_budget) / cost_scale)``, plus
``w_accuracy · accuracy`` where the pipeline declares accuracies. The single env passes floats
(one interval), the vector env arrays (one entry per cluster); both go through the same
operations in the same order, so a cluster of a vector env gets its single env's reward bit
for bit (tested).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from themis_env.config.schema import RewardConfig

__all__ = ["step_reward"]

Value = TypeVar("Value", float, np.ndarray)


def step_reward(
    w: RewardConfig,
    violation: Value,
    cost_rate: Value,
    cost_scale: float,
    accuracy: Value | None,
) -> tuple[Value, Value, Value, Value | None]:
    """The reward and its three terms: SLO and cost (as subtracted), accuracy (as added).

    The accuracy term is None without accuracies.

    Args:
        w: The scenario's reward weights.
        violation: The interval's SLO violation.
        cost_rate: Allocated cores (or memory-equivalent GB) per second over the interval.
        cost_scale: What the cost rate is divided by (the whole cluster's, by default).
        accuracy: The interval's pipeline accuracy, or None for a pipeline without accuracies
            (its term is then 0).
    """
    slo_term = w.w_slo * violation
    excess = cost_rate - w.cost_budget
    if isinstance(excess, np.ndarray):
        weighted_cost = w.w_cost * (np.maximum(excess, 0.0) / cost_scale)
    else:  # a float: NumPy's scalar path would cost a single env step about a microsecond
        weighted_cost = w.w_cost * (max(excess, 0.0) / cost_scale)
    reward = -(slo_term + weighted_cost)
    if accuracy is None:
        return reward, slo_term, weighted_cost, None
    term = w.w_accuracy * accuracy
    # Adding a zero term would turn a reward of -0.0 into 0.0: only a non-zero term is added.
    if isinstance(term, np.ndarray):
        reward = np.where(term != 0.0, reward + term, reward)
    elif term:
        reward += term
    return reward, slo_term, weighted_cost, term
