"""Themis (arXiv 2407.14843): DP solvers, the two-stage controller and its policies.

The solvers are plain functions usable without an env (:func:`horizontal_dp`,
:func:`vertical_dp`, :func:`vertical_with_fallback`, or a reusable :class:`ThemisSolver`);
:mod:`~themis_env.baselines.themis.controller` holds the two-stage controller and its
presets, :mod:`~themis_env.baselines.themis.predictors` the load predictors, and
:mod:`~themis_env.baselines.themis.policy` the env
policies (``themis``, ``horizontal``, ``vertical``, ``oracle``).
"""

from themis_env.baselines.themis.solvers import (
    ARXIV,
    P99_EXPONENTIAL,
    SOLVER_PRESETS,
    THEMIS_2025,
    Plan,
    SolverPreset,
    StagePlan,
    StageProfile,
    ThemisSolver,
    horizontal_dp,
    planning_load,
    vertical_dp,
    vertical_with_fallback,
)

__all__ = [
    "ARXIV",
    "P99_EXPONENTIAL",
    "SOLVER_PRESETS",
    "THEMIS_2025",
    "Plan",
    "SolverPreset",
    "StagePlan",
    "StageProfile",
    "ThemisSolver",
    "horizontal_dp",
    "planning_load",
    "vertical_dp",
    "vertical_with_fallback",
]
