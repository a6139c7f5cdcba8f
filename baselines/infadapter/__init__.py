"""InfAdapter (arXiv 2304.10892): its decision problem, an exact solver, MSP, its forecaster.

:mod:`~themis_env.baselines.infadapter.problem` describes the variants and their capacity
lines, :mod:`~themis_env.baselines.infadapter.solver` solves InfAdapter's integer program
exactly (and MSP, the best single variant), :mod:`~themis_env.baselines.infadapter.milp` states
it for HiGHS (tests and benchmark), and :mod:`~themis_env.baselines.infadapter.forecaster`
forecasts the next minute's max with its 10 % margin and the stabilisation rule.
"""

from themis_env.baselines.infadapter.forecaster import InfForecaster, Stabiliser
from themis_env.baselines.infadapter.problem import InfProblem, InfVariant, fit_capacity_line
from themis_env.baselines.infadapter.solver import InfPlan, InfSolver, allocations

__all__ = [
    "InfForecaster",
    "InfPlan",
    "InfProblem",
    "InfSolver",
    "InfVariant",
    "Stabiliser",
    "allocations",
    "fit_capacity_line",
]
