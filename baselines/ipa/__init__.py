"""IPA (arXiv 2308.12871): its decision problem, an exact solver, and its load forecaster.

:mod:`~themis_env.baselines.ipa.problem` describes a pipeline's stages and model variants,
:mod:`~themis_env.baselines.ipa.solver` solves IPA's integer program exactly (modes for the
FA2 and RIM baselines), :mod:`~themis_env.baselines.ipa.milp` states it for HiGHS (tests and
benchmark), and :mod:`~themis_env.baselines.ipa.forecaster` forecasts the next 20 s max.
"""

from themis_env.baselines.ipa.forecaster import IpaForecaster
from themis_env.baselines.ipa.problem import (
    BATCHES,
    IpaProblem,
    IpaStage,
    IpaVariant,
    fit_latency,
    normalised_accuracies,
    stage_sla_ms,
)
from themis_env.baselines.ipa.solver import MODES, IpaPlan, IpaSolver, IpaStagePlan

__all__ = [
    "BATCHES",
    "MODES",
    "IpaForecaster",
    "IpaPlan",
    "IpaProblem",
    "IpaSolver",
    "IpaStage",
    "IpaStagePlan",
    "IpaVariant",
    "fit_latency",
    "normalised_accuracies",
    "stage_sla_ms",
]
