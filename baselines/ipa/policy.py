"""IPA (arXiv 2308.12871) and its baselines FA2-low, FA2-high and RIM-high as policies.

Every 10 s IPA forecasts the max load of the next 20 s from the last 120 s
(:class:`~themis_env.baselines.ipa.forecaster.IpaForecaster`) and solves its integer program
exactly (:class:`~themis_env.baselines.ipa.solver.IpaSolver`): per stage one variant, a batch
size and replicas, maximising α·accuracy − β·cores − γ·batch within the end-to-end SLA. Its
baselines are the same program with a knob fixed (IPA's ``baseline_mode``): FA2-low and FA2-high
scale only (``scale``, the least or the most accurate variant of each stage), RIM-high switches
only (``switch``, replicas fixed). Code: ``reconfigurable-ml-pipeline/ipa@e1f08dd``
(``optimizer/adapter.py``, ``optimizer/optimizer.py``).

Decided details:

* **Profiles.** Each variant is profiled from its simulator latency model at IPA's base
  allocation (:meth:`~themis_env.baselines.ipa.problem.IpaStage.from_latency_models`: the fewest
  cores reaching 4 req/s within IPA's stage SLA, up to the stage's ``max_cores``), over IPA's
  batches 1, 2, 4, 8 up to the stage's ``max_batch``. The SLA of the program is the scenario's
  SLO; ``scaling_cap`` is the smallest ``max_replicas`` of the stages.
* **Deployment.** A stage's plan (v, b, n) is n replicas of variant v with v's base cores and
  batch b; the env's one cores knob per stage takes v's base allocation.
* **Switching variant.** IPA's reconfiguration replaces a stage's Deployment, which Kubernetes
  rolls out keeping the old pods until the new are ready. Here the old variant's replicas stay
  (at their count) until the stage has no replica starting or pending and the new variant has
  its planned replicas; then they are removed. During the overlap the old replicas serve with
  the new cores and batch (one knob per stage) and cost cores.
* **History.** The env observes ``history_s`` seconds; the policy keeps its own 120 s
  (:class:`~themis_env.baselines.history.RateHistory`). Until it has twelve 10-s windows the
  forecaster uses the max of what it has, as IPA's backup predictor does.
* **Pacing.** A decision every ``interval_s`` (10 s), rounded to whole env steps. At reset
  nothing has been observed, so the scenario's initial configuration stands until the first
  pacing step with history.
* **Infeasible load.** IPA's adapter keeps the current configuration when the program has no
  solution; so does the policy (the solver returns it with ``feasible=False``).
* **RIM-high's replicas.** The paper fixes the replicas of RIM at a high count without saying
  which. Here they are sized once, at the first decision, as the replicas the most accurate
  variants need for that forecast (IPA's program in ``scale`` mode), times ``rim_headroom``
  (2); later decisions only switch variant and batch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from themis_env.baselines.base import Policy
from themis_env.baselines.history import RateHistory
from themis_env.baselines.ipa.forecaster import (
    ADAPTATION_INTERVAL_S,
    DEFAULT_WEIGHTS,
    WINDOW_S,
    WINDOWS,
    IpaForecaster,
)
from themis_env.baselines.ipa.problem import BATCHES, IpaProblem, IpaStage
from themis_env.baselines.ipa.solver import IpaPlan, IpaSolver, Mode
from themis_env.baselines.variants import variant_replicas, variant_target

from themis_env.envs.views import policy_view
from themis_env.errors import ConfigError, PolicyError

__all__ = ["FA2HighPolicy", "FA2LowPolicy", "IpaPolicy", "RIMHighPolicy", "ipa_problem"]


def ipa_problem(view: Any, alpha: float, beta: float, gamma: float) -> IpaProblem:
    """IPA's program for the env's pipeline, profiled from its latency models."""
    stages = []
    for lim, models in zip(view.stage_limits, view.pipeline.stage_models, strict=True):
        batches = [b for b in BATCHES if b <= lim.max_batch]
        stages.append(
            IpaStage.from_latency_models(
                lim.name,
                [(m.name, float(m.accuracy or 0.0), m.latency) for m in models],
                max_cores=lim.max_cores,
                batches=batches,
            )
        )
    return IpaProblem(
        tuple(stages),
        float(view.slo_ms),
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        max_replicas=min(lim.max_replicas for lim in view.stage_limits),
    )


class IpaPolicy(Policy):
    """IPA: per stage a variant, batch and replicas by IPA's program, every 10 s.

    **Observes:** ``arrival_rate`` (kept as its own 120-s history), ``variant_replicas``,
    ``batch``, ``replicas_starting`` and ``replicas_pending``. Static knowledge: each variant's
    latency model and accuracy, the SLO, the stages' limits.

    **Parameters:**

    * ``alpha`` = 2, ``beta`` = 1, ``gamma`` = 1e-6: the objective's weights (IPA's video
      configs).
    * ``interval_s`` = 10: time between decisions [s].
    * ``weights``: the forecaster's weights file (``None``: max of the history).
    * ``rim_headroom`` = 2: RIM-high's replicas over what its first forecast needs.

    **Source:** arXiv 2308.12871; ``reconfigurable-ml-pipeline/ipa@e1f08dd``. Every decided
    detail is in the module docstring.
    """

    name = "ipa"
    privileged = False
    mode: Mode = "ipa"
    #: Per stage the variant ``scale`` mode fixes: "low" (least accurate) or "high" (most).
    fixed_variants = "high"

    def __init__(
        self,
        env: Any,
        *,
        alpha: float = 2.0,
        beta: float = 1.0,
        gamma: float = 1e-6,
        interval_s: float = ADAPTATION_INTERVAL_S,
        weights: str | None = str(DEFAULT_WEIGHTS),
        rim_headroom: float = 2.0,
    ) -> None:
        super().__init__(
            env,
            alpha=alpha,
            beta=beta,
            gamma=gamma,
            interval_s=interval_s,
            rim_headroom=rim_headroom,
            **({} if weights == str(DEFAULT_WEIGHTS) else {"weights": weights}),
        )
        self.view = policy_view(env)
        limits = list(self.view.stage_limits)
        if not any(lim.variants for lim in limits):
            raise PolicyError(
                f"{self.name}: scenario {self.view.scenario.name!r} has no stage with model "
                "variants; IPA chooses a variant per stage"
            )
        if not math.isfinite(interval_s) or interval_s <= 0:
            raise PolicyError(f"{self.name}: interval_s = {interval_s!r} must be > 0 [s]")
        if not math.isfinite(rim_headroom) or rim_headroom < 1:
            raise PolicyError(f"{self.name}: rim_headroom = {rim_headroom!r} must be >= 1")
        try:
            self.problem = ipa_problem(self.view, alpha, beta, gamma)
        except ConfigError as exc:
            raise PolicyError(f"{self.name}: {exc}") from exc
        self.solver = IpaSolver(self.problem)
        self.forecaster = IpaForecaster(weights)
        self.rim_headroom = float(rim_headroom)
        self.S = len(limits)
        self.width = len(self.view.current_targets[0])
        self.dt = float(self.view.decision_interval_s)
        self.pace = max(1, round(float(interval_s) / self.dt))
        self.history = RateHistory(WINDOWS * WINDOW_S, self.dt)
        pick = np.argmin if self.fixed_variants == "low" else np.argmax
        self.scale_variants = [
            int(pick([v.accuracy for v in st.variants], axis=0)) for st in self.problem.stages
        ]
        self.reset()

    def reset(self) -> None:
        """Forget the episode: history, plan, rollouts."""
        self.history.reset()
        self._steps = 0
        self.plan: IpaPlan | None = None
        self.plans: list[IpaPlan] = []
        self._fixed_replicas: list[int] | None = None
        self._old: list[tuple[int, int] | None] = [None] * self.S  # (slot, replicas) rolling out

    def _current(self, d: dict[str, np.ndarray]) -> list[tuple[int, int, int]]:
        """(variant, batch, replicas) per stage in force.

        The variant is the planned one (else the most replicated), with its replicas only.
        """
        table = variant_replicas(d, self.S)
        out = []
        for s, st in enumerate(self.problem.stages):
            row = table[s, : len(st.variants)]
            v = int(np.argmax(row)) if self.plan is None else self.plan.stages[s].variant_index
            out.append((v, int(round(float(d["batch"][s]))), int(row[v])))
        return out

    def _solve(self, load: float, current: list[tuple[int, int, int]]) -> IpaPlan:
        if self.mode == "scale":
            return self.solver.solve(
                load, mode="scale", current=current, variants=self.scale_variants
            )
        if self.mode == "switch":
            if self._fixed_replicas is None:
                sized = self.solver.solve(
                    load, mode="scale", current=current, variants=self.scale_variants
                )
                base = (
                    [n for _, _, n in current]
                    if not sized.feasible
                    else [st.replicas for st in sized.stages]
                )
                cap = self.problem.max_replicas
                self._fixed_replicas = [
                    min(cap, max(1, math.ceil(n * self.rim_headroom))) for n in base
                ]
            return self.solver.solve(
                load, mode="switch", current=current, replicas=self._fixed_replicas
            )
        return self.solver.solve(load, mode="ipa", current=current)

    def act(self, obs: Any) -> np.ndarray:
        """Held targets, or a new plan on a pacing step; finish variant rollouts."""
        d = self.view.obs_as_dict(obs)
        self.history.observe(d["arrival_rate"])
        step = self._steps
        self._steps += 1
        if step % self.pace == 0 and len(self.history.rates) > 0:
            current = self._current(d)
            forecast = self.forecaster.predict(self.history.rates)
            plan = self._solve(forecast, current)
            self.plans.append(plan)
            if plan.feasible:
                for s, st in enumerate(plan.stages):
                    v_now, _, n_now = current[s]
                    old = self._old[s]
                    if old is not None and old[0] == st.variant_index:
                        self._old[s] = None  # switched back before the rollout ended
                    elif old is None and st.variant_index != v_now and n_now > 0:
                        self._old[s] = (v_now, n_now)  # a rollout in progress keeps its old pods
                self.plan = plan
        if self.plan is None:
            return self.view.encode_targets([list(t) for t in self.view.current_targets])
        table = variant_replicas(d, self.S)
        targets = []
        for s, st in enumerate(self.plan.stages):
            replicas = [0] * (self.width - 2)
            replicas[st.variant_index] = st.replicas
            old = self._old[s]
            if old is not None:
                settled = (
                    float(d["replicas_starting"][s]) == 0
                    and float(d["replicas_pending"][s]) == 0
                    and table[s, st.variant_index] >= st.replicas
                )
                if settled:
                    self._old[s] = None
                else:
                    replicas[old[0]] = old[1]
            targets.append(variant_target(self.width, replicas, st.cores, st.batch))
        return self.view.encode_targets(targets)


class FA2LowPolicy(IpaPolicy):
    """FA2-low: IPA's program scaling only, each stage fixed at its least accurate variant."""

    name = "fa2-low"
    mode: Mode = "scale"
    fixed_variants = "low"


class FA2HighPolicy(IpaPolicy):
    """FA2-high: IPA's program scaling only, each stage fixed at its most accurate variant."""

    name = "fa2-high"
    mode: Mode = "scale"
    fixed_variants = "high"


class RIMHighPolicy(IpaPolicy):
    """RIM-high: IPA's program switching variant and batch only, replicas fixed (high)."""

    name = "rim-high"
    mode: Mode = "switch"
