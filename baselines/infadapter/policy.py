"""InfAdapter (arXiv 2304.10892) and MSP as policies: a set of variants and their cores, every 30 s.

Each decision InfAdapter forecasts the next minute's peak load from the last 600 s (its
predictor plus a 10 % margin, :class:`~themis_env.baselines.infadapter.forecaster.InfForecaster`),
lets the stabilisation rule (:class:`~themis_env.baselines.infadapter.forecaster.Stabiliser`)
hold a lower forecast four times before scaling down, and solves its integer program exactly
(:class:`~themis_env.baselines.infadapter.solver.InfSolver`): the variants and cores n_v that
maximise accuracy − α·cores/MAX_CPU − β·load cost with n_v = 0 or ≥ 2 and the load carried at
0.8 of each variant's capacity line. MSP solves the same program restricted to one variant.
Code: ``reconfigurable-ml-pipeline/InfAdapter@398b18f`` (``auto_tuner/adapter/main.py``,
``reconfig.py``).

Decided details:

* **Cores → replicas.** The env has one cores-per-replica knob per stage, InfAdapter one
  Deployment per variant with n_v cores. A plan is deployed as n_v one-core replicas of variant
  v (cores knob 1): the total cores are exactly Σ n_v, and any mix of variants fits the one
  knob. The capacity line is fitted to what that deployment carries, n · 1000 / l_v(1, 1) at
  n = 1..MAX_CPU (InfAdapter profiles its own deployments the same way: capacity against
  cores); with l = α/c + β this is at least what one n-core replica would carry
  (1000 / l_v(1, n)), since a replica serves one batch at a time. A change of n_v adds or
  removes one-core replicas, which pay the variant's load time as cold start (the load-cost
  term counts exactly those variants). A variant that leaves the set loses its replicas at
  once, as a Deployment scaled to zero; its queued requests go to the replicas that remain.
* **Routing.** InfAdapter's Envoy splits the load in the planned shares ℓ_v; the env's
  dispatcher sends each request to the replica that frees first, whatever its variant. So the
  served accuracy is not the planned Σ ℓ_v·acc_v/λ: below the planned load the less accurate
  (faster) replicas also take requests, and the accuracy measured lies between the plan's and
  the core-weighted mix. Capacity is pooled, which only helps the SLO.
* **History.** The env observes ``history_s`` seconds; the policy keeps its own 600 s from the
  observed rate each step (:class:`~themis_env.baselines.history.RateHistory`); the forecaster
  front-pads a shorter history with its oldest value, as the authors' code does.
* **Pacing.** A decision every ``interval_s`` (30 s) of env time, rounded to whole env steps;
  between decisions the targets are held. At reset nothing has been observed, so the first
  decision comes at the first pacing step with history; until then the scenario's initial
  configuration stands.
* **MAX_CPU** = the cluster's total cores, capped at the stage's ``max_replicas`` (a variant's
  n_v one-core replicas must fit its replica limit); 20 on ``infadapter-resnet``.
* **Infeasible load** (no allocation within MAX_CPU carries it): the solver's fallback, the
  least accurate variant on all MAX_CPU cores, as the authors' adapter does.
* **Scope.** One stage with variants (InfAdapter's setting); other pipelines raise a
  :class:`~themis_env.errors.PolicyError`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from themis_env.baselines.base import Policy
from themis_env.baselines.history import RateHistory
from themis_env.baselines.infadapter.forecaster import (
    DECISION_INTERVAL_S,
    DEFAULT_WEIGHTS,
    HISTORY_S,
    MARGIN_PCT,
    STABILISATION,
    InfForecaster,
    Stabiliser,
)
from themis_env.baselines.infadapter.problem import InfProblem, InfVariant
from themis_env.baselines.infadapter.solver import InfPlan, InfSolver
from themis_env.baselines.variants import variant_replicas, variant_target

from themis_env.envs.views import policy_view
from themis_env.errors import ConfigError, PolicyError

__all__ = ["InfAdapterPolicy", "MSPPolicy", "deployment_variants"]


def deployment_variants(view: Any, max_cpu: int) -> tuple[InfVariant, ...]:
    """The stage's variants with the capacity lines of n one-core replicas, n = 1..max_cpu."""
    models = view.pipeline.stage_models[0]
    out = []
    for m in models:
        per_core = 1000.0 / m.latency.service_ms(1, 1)
        if m.latency.service_ms(1, 1) > view.slo_ms:
            raise PolicyError(
                f"infadapter: variant {m.name!r} takes {m.latency.service_ms(1, 1):.0f} ms per "
                f"request on one core, over the {view.slo_ms} ms SLO"
            )
        cores = list(range(1, max_cpu + 1))
        out.append(
            InfVariant.from_capacity_points(
                m.name,
                float(m.accuracy if m.accuracy is not None else 0.0),
                cores,
                [n * per_core for n in cores],
                float(m.load_time_s or 0.0),
            )
        )
    return tuple(out)


class InfAdapterPolicy(Policy):
    """InfAdapter: the variant set and cores per variant by its objective, every 30 s.

    **Observes:** ``arrival_rate`` (kept as its own 600-s history), ``variant_replicas`` and
    ``cores`` (the current allocation, for the load-cost term). Static knowledge: each
    variant's latency model l(1, 1), accuracy and load time; the SLO; the cluster's cores.

    **Parameters:**

    * ``alpha`` = 0.05, ``beta`` = 0.001: the weights of cores and load cost (the authors'
      defaults).
    * ``min_cores`` = 2: the least cores of a running variant.
    * ``capacity_coef`` = 0.8: the share of the capacity line planned with.
    * ``margin_pct`` = 10: the forecaster's margin [%].
    * ``stabilisation`` = 4: lower forecasts held before a scale-down.
    * ``interval_s`` = 30: time between decisions [s].
    * ``max_cpu``: MAX_CPU (default: see the module docstring).
    * ``weights``: the forecaster's weights file (``None``: max of the history).

    **Source:** arXiv 2304.10892; ``reconfigurable-ml-pipeline/InfAdapter@398b18f``. Every
    decided detail is in the module docstring.
    """

    name = "infadapter"
    privileged = False

    def __init__(
        self,
        env: Any,
        *,
        alpha: float = 0.05,
        beta: float = 0.001,
        min_cores: int = 2,
        capacity_coef: float = 0.8,
        margin_pct: float = MARGIN_PCT,
        stabilisation: int = STABILISATION,
        interval_s: float = DECISION_INTERVAL_S,
        max_cpu: int | None = None,
        weights: str | None = str(DEFAULT_WEIGHTS),
    ) -> None:
        super().__init__(
            env,
            alpha=alpha,
            beta=beta,
            min_cores=min_cores,
            capacity_coef=capacity_coef,
            margin_pct=margin_pct,
            stabilisation=stabilisation,
            interval_s=interval_s,
            max_cpu=max_cpu,
            **({} if weights == str(DEFAULT_WEIGHTS) else {"weights": weights}),
        )
        self.view = policy_view(env)
        limits = self.view.stage_limits
        if self.view.n_stages != 1 or not limits[0].variants:
            raise PolicyError(
                f"{self.name}: scenario {self.view.scenario.name!r} has {self.view.n_stages} "
                "stage(s); InfAdapter serves one stage with model variants"
            )
        if not math.isfinite(interval_s) or interval_s <= 0:
            raise PolicyError(f"{self.name}: interval_s = {interval_s!r} must be > 0 [s]")
        self.limits = limits[0]
        self.width = len(self.view.current_targets[0])  # replicas per variant slot, cores, batch
        cluster = self.view.cluster
        total = int(cluster.nodes) * int(cluster.cores_per_node)
        self.max_cpu = int(max_cpu) if max_cpu is not None else min(total, self.limits.max_replicas)
        if not 1 <= self.max_cpu <= min(total, self.limits.max_replicas):
            raise PolicyError(
                f"{self.name}: max_cpu = {max_cpu!r} must lie in 1.."
                f"{min(total, self.limits.max_replicas)} (cluster cores, replicas per variant)"
            )
        try:
            problem = InfProblem(
                deployment_variants(self.view, self.max_cpu),
                max_cpu=self.max_cpu,
                alpha=alpha,
                beta=beta,
                min_cores=min_cores,
                capacity_coef=capacity_coef,
            )
        except ConfigError as exc:
            raise PolicyError(f"{self.name}: {exc}") from exc
        self.solver = InfSolver(problem)
        self.forecaster = InfForecaster(weights, margin_pct)
        self.stabiliser = Stabiliser(stabilisation)
        self.dt = float(self.view.decision_interval_s)
        self.pace = max(1, round(float(interval_s) / self.dt))
        self.history = RateHistory(HISTORY_S, self.dt)
        self.reset()

    def reset(self) -> None:
        """Forget the episode: history, stabilisation, plan."""
        self.history.reset()
        self.stabiliser.reset()
        self._steps = 0
        self.plan: InfPlan | None = None
        self._target: list[int] | None = None
        self.plans: list[InfPlan] = []

    def _solve(self, load: float, current: np.ndarray) -> InfPlan:
        return self.solver.solve(load, current)

    def act(self, obs: Any) -> np.ndarray:
        """Held targets, or a new plan on a pacing step."""
        d = self.view.obs_as_dict(obs)
        self.history.observe(d["arrival_rate"])
        step = self._steps
        self._steps += 1
        if step % self.pace == 0 and len(self.history.rates) > 0:
            forecast = self.forecaster.predict(self.history.rates)
            planned = -1 if self.plan is None else self.plan.load
            if self.plan is None or self.stabiliser.should_reconfigure(forecast, planned):
                cores = int(round(float(d["cores"][0])))
                current = variant_replicas(d, 1)[0, : len(self.limits.variants)] * cores
                self.plan = self._solve(forecast, current)
                self.plans.append(self.plan)
                self._target = variant_target(self.width, self.plan.cores, 1, 1)
        if self._target is None:
            return self.view.encode_targets([list(t) for t in self.view.current_targets])
        return self.view.encode_targets([self._target])


class MSPPolicy(InfAdapterPolicy):
    """MSP: InfAdapter's program restricted to one variant (the best single variant).

    Same observation, parameters, pacing and fallback as :class:`InfAdapterPolicy`; each
    decision solves :meth:`~themis_env.baselines.infadapter.solver.InfSolver.msp`.
    """

    name = "msp"

    def _solve(self, load: float, current: np.ndarray) -> InfPlan:
        return self.solver.msp(load, current)
