"""Themis's two-stage controller: vertical scaling on surges, horizontal once stable.

Every decision interval (``Adapter.adapt`` in ``adapter/main.py`` of ``mehransi/Themis``: at
``b01017f``, the code of arXiv 2407.14843 v1, and at ``8b3bfdd``, the 2025 code):

1. λ_now from the recent arrivals (arXiv: int(mean of the last 2 s); 2025: ceil(max of the
   last 5 s)); a load predictor forecasts the max of the next 10 s.
2. The rule decides whether the load has stabilised:

   * ``themis-arxiv``: go horizontal only if (a) the vertical solver needs no extra replicas,
     (b) no stage needs more cores than it has, and (c) the horizontal plan for the forecast
     needs no more replicas than the one for the current load. The code takes λ_now (a 2-s
     rate) as that current load; under Poisson arrivals a 10-s max forecast always exceeds a
     2-s rate, so (c) would never hold and Themis would never hand cores back. By default
     (``forecast_reference="recent-max"``) the forecast is compared like for like, with the
     max of the last 10 s; ``"rate"`` keeps the code's literal comparison.
   * ``themis-2025`` (binary threshold): go horizontal if the load is not increasing and
     λ_now < T_now (the current throughput), or if some stage already runs C_max cores. The
     2025 code's LSTM classifier gives P(max of the next 10 s > T_now) and calls the load
     increasing at P ≥ 0.2; here "increasing" is the predictor's max forecast > T_now.

3. Horizontal (stable): every stage to (1 core, the horizontal plan's replicas and batch),
   which is where cores are handed back. The authors shrink the existing pods only after the
   new ones are up (make before break, and the adapter waits meanwhile); in the env every
   replica of a stage has the same cores, so the controller first adds the replicas at the
   current cores (fewer if the cluster is too small), holds until they are ready (given the
   ready counts, at most ``transition_timeout_s``), then applies the 1-core plan.
   arXiv: only after the rule asked for it ``stabilisation`` decisions in a row (5 for
   video, 10 otherwise; the code applies it on the next request and resets the count).
   2025: a pure scale-in waits 10 s of requests, a scale-out is applied at once, and a stage
   leaving more than 1 core gets one extra replica.
4. Vertical (surge): cores max(planned, current) (no vertical scale-down), batch as planned,
   replicas current + the fallback's extra replicas. Any vertical decision resets the count.

Degradation (not in the authors' code, which would crash): when the vertical solver finds
nothing even at 1 req/s, the controller applies the horizontal plan if there is one, else
every stage at its fastest option with enough replicas (:meth:`ThemisSolver.max_out`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from themis_env.baselines.themis.predictors import LoadPredictor
from themis_env.baselines.themis.solvers import ARXIV, THEMIS_2025, Plan, SolverPreset, ThemisSolver

from themis_env.errors import ConfigError

__all__ = [
    "ControllerPreset",
    "CONTROLLER_PRESETS",
    "ARXIV_CONTROLLER",
    "THEMIS_2025_CONTROLLER",
    "Decision",
    "StabilisingController",
    "TwoStageController",
    "HorizontalOnlyController",
    "VerticalOnlyController",
    "sponge_preset",
    "current_rate",
]

Target = tuple[int, int, int]


@dataclass(frozen=True)
class ControllerPreset:
    """Controller parameters of one Themis version (``adapter/main.py``, ``starter.py``).

    Attributes:
        name: Preset name (``themis-arxiv`` or ``themis-2025``).
        solver: The solver preset (queueing, headroom, cost).
        decision_interval_s: The authors' decision interval [s] (the env's is used to run).
        rate_window_s: Seconds of arrivals behind λ_now.
        rate_statistic: ``mean`` (int of the mean, arXiv's Prometheus rate) or ``max``
            (ceil of the max, 2025).
        switch_rule: ``stabilised`` (arXiv's three conditions) or ``binary-threshold`` (2025).
        stabilisation: Consecutive horizontal requests before one is applied (None: per
            pipeline, 5 for video and 10 otherwise, as the arXiv code).
        stabilisation_s: The same as a duration (2025: 10 s); used when ``stabilisation`` is
            None and this is set.
        stabilise_scale_out: Whether a horizontal decision that adds replicas waits too
            (arXiv: yes; 2025: only pure scale-ins wait).
        stability_replica: Add one replica to a stage whose cores shrink on the V→H switch.
        warmup_s: The authors' first decision comes after this long (60 s / 30 s).
        horizon_s: Forecast horizon [s].
    """

    name: str
    solver: SolverPreset
    decision_interval_s: float
    rate_window_s: int
    rate_statistic: Literal["mean", "max"]
    switch_rule: Literal["stabilised", "binary-threshold"]
    stabilisation: int | None
    stabilisation_s: float | None
    stabilise_scale_out: bool
    stability_replica: bool
    warmup_s: float
    horizon_s: float = 10.0


ARXIV_CONTROLLER = ControllerPreset(
    "themis-arxiv", ARXIV, 1.0, 2, "mean", "stabilised", None, None, True, False, 60.0
)
THEMIS_2025_CONTROLLER = ControllerPreset(
    "themis-2025", THEMIS_2025, 0.5, 5, "max", "binary-threshold", None, 10.0, False, True, 30.0
)
CONTROLLER_PRESETS = {p.name: p for p in (ARXIV_CONTROLLER, THEMIS_2025_CONTROLLER)}


def current_rate(history: np.ndarray, window_s: int, statistic: str) -> int:
    """λ_now [req/s] from per-second arrivals (oldest first); 0 without history."""
    recent = np.asarray(history[-window_s:], dtype=np.float64)
    if recent.size == 0:
        return 0
    if statistic == "max":
        return int(math.ceil(float(recent.max()) - 1e-9))
    return int(float(recent.mean()) + 1e-9)


@dataclass(frozen=True)
class Decision:
    """What the controller asks for, and why.

    Attributes:
        targets: (replicas, cores, batch) per stage.
        mode: ``vertical``, ``horizontal``, ``hold`` (waiting for stabilisation or warm-up)
            or ``degraded`` (no plan meets the SLO; best effort).
        load: λ_now [req/s].
        forecast: The predictor's max for the horizon [req/s].
        reason: Free text.
    """

    targets: tuple[Target, ...]
    mode: str
    load: int
    forecast: float
    reason: str = ""


class StabilisingController:
    """What the Themis controllers that apply the horizontal DP's plan share.

    Targets kept within the limits, the count of consecutive horizontal requests
    (stabilisation), and the make-before-break step that adds replicas at the current cores
    before shrinking them. :class:`TwoStageController` and :class:`HorizontalOnlyController`
    add their own ``decide``.

    Args:
        solver: The pipeline's solver (its preset should match ``preset.solver``).
        preset: A :class:`ControllerPreset` or its name.
        decision_interval_s: The interval the controller runs at [s] (converts
            ``stabilisation_s`` to decisions); defaults to the preset's.
        stabilisation: Overrides the preset's count of consecutive horizontal requests.
        pipeline: Pipeline name, for the arXiv per-pipeline stabilisation (5 for video).
        min_replicas: Lower bound per stage on every target.
        max_replicas: Upper bound per stage on every target.
        cluster_cores: Cores of the whole cluster, to size the make-before-break step
            (None: no limit).
        transition_timeout_s: Longest wait for new replicas before the 1-core plan applies.
    """

    def __init__(
        self,
        solver: ThemisSolver,
        preset: ControllerPreset | str,
        *,
        decision_interval_s: float | None = None,
        stabilisation: int | None = None,
        pipeline: str = "",
        min_replicas: Sequence[int] | None = None,
        max_replicas: Sequence[int] | None = None,
        cluster_cores: int | None = None,
        transition_timeout_s: float = 30.0,
    ) -> None:
        self.cluster_cores = cluster_cores
        self.transition_timeout_s = float(transition_timeout_s)
        self._pending: tuple[tuple[Target, ...], float, tuple[int, ...]] | None = None
        if isinstance(preset, str):
            if preset not in CONTROLLER_PRESETS:
                raise ConfigError(
                    f"unknown controller preset {preset!r}; choose one of "
                    f"{sorted(CONTROLLER_PRESETS)}"
                )
            preset = CONTROLLER_PRESETS[preset]
        self.preset = preset
        self.solver = solver
        self.interval = float(decision_interval_s or preset.decision_interval_s)
        if stabilisation is None:
            stabilisation = preset.stabilisation
        if stabilisation is None and preset.stabilisation_s is not None:
            stabilisation = int(round(preset.stabilisation_s / self.interval))
        if stabilisation is None:
            stabilisation = 5 if pipeline == "video" else 10
        if stabilisation < 0:
            raise ConfigError(f"stabilisation = {stabilisation} must be >= 0 decisions")
        self.stabilisation = int(stabilisation)
        S = solver.n_stages
        self.min_replicas = list(min_replicas) if min_replicas is not None else [1] * S
        self.max_replicas = list(max_replicas) if max_replicas is not None else [10**9] * S
        self.counter = 0

    def reset(self) -> None:
        """Forget the stabilisation count and a pending transition."""
        self.counter = 0
        self._pending = None

    # ------------------------------------------------------------------ helpers
    def _clamp(self, targets: Sequence[Target]) -> tuple[Target, ...]:
        out = []
        for s, (n, c, b) in enumerate(targets):
            n = min(max(int(n), self.min_replicas[s]), self.max_replicas[s])
            c = min(max(int(c), 1), self.solver.max_cores[s])
            b = min(max(int(b), 1), self.solver.max_batch[s])
            out.append((n, c, b))
        return tuple(out)

    def _horizontal(self, plan: Plan, current: Sequence[Target]) -> tuple[Target, ...]:
        out = []
        for st, (_, c, _) in zip(plan.stages, current, strict=True):
            extra = 1 if self.preset.stability_replica and c > st.cores else 0
            out.append((st.replicas + extra, st.cores, st.batch))
        return self._clamp(out)

    def _apply_horizontal(
        self,
        h_now: Plan,
        current: Sequence[Target],
        load: int,
        forecast: float,
        waits: bool,
        ready: Sequence[int] | None = None,
    ) -> Decision:
        if waits and self.counter < self.stabilisation:
            self.counter += 1
            return Decision(
                self._clamp(current),
                "hold",
                load,
                forecast,
                f"stabilising {self.counter}/{self.stabilisation}",
            )
        self.counter = 0
        final = self._horizontal(h_now, current)
        if ready is None:
            return Decision(final, "horizontal", load, forecast)
        # Make before break: stages that gain replicas and lose cores keep their cores (as far
        # as the cluster allows) until the new replicas are ready.
        step = [
            (n_new, c_old, b_old) if n_new > n_old and c_old > c_new else (n_new, c_new, b_new)
            for (n_new, c_new, b_new), (n_old, c_old, b_old) in zip(final, current, strict=True)
        ]
        if list(step) == list(final):
            return Decision(final, "horizontal", load, forecast)
        step = self._fit(step)
        self._pending = (final, 0.0, tuple(n for n, _, _ in step))
        return Decision(
            tuple(step), "horizontal", load, forecast, "adding replicas before shrinking cores"
        )

    def _fit(self, targets: list[Target]) -> tuple[Target, ...]:
        """Lower the largest core counts until the targets fit the cluster's cores."""
        out = [list(t) for t in targets]
        if self.cluster_cores is not None:
            while sum(n * c for n, c, _ in out) > self.cluster_cores:
                s = max(range(len(out)), key=lambda i: (out[i][1], out[i][0]))
                if out[s][1] <= 1:
                    break
                out[s][1] -= 1
        return self._clamp([tuple(t) for t in out])

    def _transition(
        self, current: Sequence[Target], ready: Sequence[int], load: int, forecast: float
    ) -> Decision | None:
        """While new replicas start: hold; once ready (or timed out), the 1-core plan."""
        if self._pending is None:
            return None
        final, waited, wanted = self._pending
        waited += self.interval
        if (
            all(r >= w for r, w in zip(ready, wanted, strict=True))
            or waited >= self.transition_timeout_s
        ):
            self._pending = None
            return Decision(final, "horizontal", load, forecast, "new replicas ready: cores shrink")
        self._pending = (final, waited, wanted)
        return Decision(self._clamp(current), "hold", load, forecast, "waiting for new replicas")


class TwoStageController(StabilisingController):
    """The Themis controller over a :class:`ThemisSolver`; no env needed.

    Args:
        solver: The pipeline's solver (its preset should match ``preset.solver``).
        preset: A :class:`ControllerPreset` or its name.
        predictor: Forecasts the max load of the next ``preset.horizon_s`` seconds.
        decision_interval_s: The interval the controller runs at [s] (converts
            ``stabilisation_s`` to decisions); defaults to the preset's.
        stabilisation: Overrides the preset's count of consecutive horizontal requests.
        pipeline: Pipeline name, for the arXiv per-pipeline stabilisation (5 for video).
        min_replicas: Lower bound per stage on every target.
        max_replicas: Upper bound per stage on every target.
        forecast_reference: What the arXiv rule (c) compares the forecast with:
            ``recent-max`` (the max of the last ``horizon_s`` seconds, default) or ``rate``
            (λ_now, the code's literal comparison).
        cluster_cores: Cores of the whole cluster, to size the make-before-break step
            (None: no limit).
        transition_timeout_s: Longest wait for new replicas before the 1-core plan applies.
    """

    def __init__(
        self,
        solver: ThemisSolver,
        preset: ControllerPreset | str,
        predictor: LoadPredictor,
        *,
        decision_interval_s: float | None = None,
        stabilisation: int | None = None,
        pipeline: str = "",
        min_replicas: Sequence[int] | None = None,
        max_replicas: Sequence[int] | None = None,
        forecast_reference: Literal["recent-max", "rate"] = "recent-max",
        cluster_cores: int | None = None,
        transition_timeout_s: float = 30.0,
    ) -> None:
        if forecast_reference not in ("recent-max", "rate"):
            raise ConfigError(
                f"forecast_reference = {forecast_reference!r} is not allowed; choose "
                "'recent-max' or 'rate'"
            )
        super().__init__(
            solver,
            preset,
            decision_interval_s=decision_interval_s,
            stabilisation=stabilisation,
            pipeline=pipeline,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            cluster_cores=cluster_cores,
            transition_timeout_s=transition_timeout_s,
        )
        self.forecast_reference = forecast_reference
        self.predictor = predictor

    def reset(self) -> None:
        """Forget the stabilisation count, a pending transition and the predictor's state."""
        super().reset()
        self.predictor.reset()

    def throughput(self, current: Sequence[Target]) -> int:
        """T_now: min over stages of n_s · floor(1000·b_s / l_s(b_s, c_s)) [req/s].

        As ``get_throughput`` in ``mehransi/Themis@8b3bfdd:adapter/optimizer.py``.
        """
        rates = []
        for s, (n, c, b) in enumerate(current):
            lat = int(self.solver.stages[s].latency_ms[b - 1, c - 1])
            rates.append(n * (1000 * b // lat))
        return min(rates)

    def _vertical(self, plan: Plan, current: Sequence[Target]) -> tuple[Target, ...]:
        # No vertical scale-down while in the vertical phase; extra pods get the new cores.
        return self._clamp(
            [
                (n + st.extra, max(st.cores, c), st.batch)
                for st, (n, c, _) in zip(plan.stages, current, strict=True)
            ]
        )

    def _degraded(
        self, load: int, forecast: float, current: Sequence[Target], h_now: Plan
    ) -> Decision:
        if h_now.feasible:
            return Decision(
                self._horizontal(h_now, current),
                "degraded",
                load,
                forecast,
                "no vertical plan even at 1 req/s; horizontal plan applied",
            )
        best = self.solver.max_out(load, min_replicas=[n for n, _, _ in current])
        return Decision(self._clamp(best.targets()), "degraded", load, forecast, best.reason)

    # ------------------------------------------------------------------ decide
    def decide(
        self, history: np.ndarray, current: Sequence[Target], ready: Sequence[int] | None = None
    ) -> Decision:
        """One decision from the per-second arrivals seen so far and the current targets.

        Args:
            history: Observed arrivals per second, oldest first (only seconds really seen).
            current: (replicas, cores, batch) per stage now in force.
            ready: Ready replicas per stage; enables the make-before-break transition.
        """
        current = [tuple(int(v) for v in t) for t in current]
        p = self.preset
        load = current_rate(history, p.rate_window_s, p.rate_statistic)
        forecast = float(self.predictor.predict_max(np.asarray(history), p.horizon_s))
        if ready is not None:
            pending = self._transition(current, ready, load, forecast)
            if pending is not None:
                return pending
        reps = [n for n, _, _ in current]
        h_now = self.solver.horizontal(load)
        if p.switch_rule == "stabilised":
            h_fut = self.solver.horizontal(max(forecast, 0.0))
            h_ref = h_now
            if self.forecast_reference == "recent-max" and len(history):
                window = max(1, int(round(p.horizon_s)))
                h_ref = self.solver.horizontal(float(np.max(history[-window:])))
            v_now = self.solver.vertical_with_fallback(load, reps)
            stable = (
                v_now.feasible
                and h_now.feasible
                and h_ref.feasible
                and h_fut.feasible
                and not any(v_now.extra)
                and all(st.cores <= c for st, (_, c, _) in zip(v_now.stages, current, strict=True))
                and all(
                    a.replicas >= b.replicas
                    for a, b in zip(h_ref.stages, h_fut.stages, strict=True)
                )
            )
            if stable:
                return self._apply_horizontal(h_now, current, load, forecast, True, ready)
        else:
            t_now = self.throughput(current)
            increasing = forecast > t_now
            at_max = any(c >= self.solver.max_cores[s] for s, (_, c, _) in enumerate(current))
            if ((not increasing and load < t_now) or at_max) and h_now.feasible:
                scale_in = all(
                    st.replicas <= n for st, (n, _, _) in zip(h_now.stages, current, strict=True)
                )
                waits = scale_in or p.stabilise_scale_out
                return self._apply_horizontal(h_now, current, load, forecast, waits, ready)
            v_now = self.solver.vertical_with_fallback(load, reps)
        self.counter = 0
        if not v_now.feasible:
            return self._degraded(load, forecast, current, h_now)
        return Decision(self._vertical(v_now, current), "vertical", load, forecast)


class HorizontalOnlyController(StabilisingController):
    """The paper's horizontal-only baseline (``ho``: ``adapt_ho`` in ``adapter/main.py``).

    Every decision: the horizontal DP for λ_now, 1-core replicas. A decision that adds no
    replica to any stage (a scale-in, or no change) waits until it has been asked for
    ``stabilisation`` decisions in a row, then applies; scale-outs apply at once.

    Args:
        solver: The pipeline's solver.
        preset: The controller preset (rate window and statistic, stabilisation).
        decision_interval_s: The interval the controller runs at [s].
        stabilisation: Overrides the preset's count.
        pipeline: Pipeline name (arXiv stabilisation: 5 for video, else 10).
        min_replicas: Lower bound per stage.
        max_replicas: Upper bound per stage.
    """

    def __init__(
        self,
        solver: ThemisSolver,
        preset: ControllerPreset | str,
        *,
        decision_interval_s: float | None = None,
        stabilisation: int | None = None,
        pipeline: str = "",
        min_replicas: Sequence[int] | None = None,
        max_replicas: Sequence[int] | None = None,
    ) -> None:
        super().__init__(
            solver,
            preset,
            decision_interval_s=decision_interval_s,
            stabilisation=stabilisation,
            pipeline=pipeline,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
        )

    def decide(self, history: np.ndarray, current: Sequence[Target]) -> Decision:
        """One decision (see the class docstring)."""
        current = [tuple(int(v) for v in t) for t in current]
        p = self.preset
        load = current_rate(history, p.rate_window_s, p.rate_statistic)
        plan = self.solver.horizontal(load)
        if not plan.feasible:
            self.counter = 0
            best = self.solver.max_out(load, min_replicas=[n for n, _, _ in current], max_cores=1)
            return Decision(self._clamp(best.targets()), "degraded", load, float(load), best.reason)
        scale_in = all(st.replicas <= n for st, (n, _, _) in zip(plan.stages, current, strict=True))
        return self._apply_horizontal(plan, current, load, float(load), scale_in)


def sponge_preset(base: SolverPreset) -> SolverPreset:
    """Sponge's planning rule on top of a Themis preset's batch-wait model.

    Sponge (arXiv 2404.00704): ``Optimizer.dynainf`` in
    ``saeid93/sponge@aa00b56c:optimizer/optimizer.py``.

    Each stage's queued batches of one second, served back to back on one replica, plus the
    batch-formation wait of ``base`` (the env's dispatcher waits for batches too), must fit
    0.9 × SLO; the replicas must carry λ; cost Σ c_s (Sponge: least cores, then least batch).
    """
    return replace(
        base,
        name=f"sponge/{base.name}",
        drain_batches=True,
        slo_fraction=0.9,
        throughput_includes_queueing=False,
        headroom_std=0.0,
        cost="cores",
        vertical_core_cap=None,
    )


class VerticalOnlyController:
    """Vertical-only scaling at fixed replicas (Themis's ``vo`` baseline, after Sponge).

    Every decision the vertical DP picks cores and batch per stage for λ_now at the fixed
    replicas; cores go up and down (Sponge's ``dynainf``, and the arXiv ``vo``). When the replicas
    cannot carry λ_now, it keeps the configuration for the largest load they carry (the
    fallback's λ') without adding replicas; when nothing fits, every stage at its fastest
    option. ``rule="sponge"`` plans with Sponge's latency rule (:func:`sponge_preset`): each
    stage drains its ceil(λ/(b·n)) queued batches back to back, all within 0.9 × SLO;
    ``rule="themis"`` with the Themis preset's model (batch wait and throughput). Scale-downs wait
    ``stabilisation`` decisions (0 in Sponge and the arXiv code; 10 s in the 2025 code).

    Args:
        solver: The pipeline's Themis solver (its profiles and limits are reused).
        preset: The controller preset (rate window and statistic).
        rule: ``sponge`` or ``themis``.
        stabilisation: Consecutive scale-down requests before one applies.
        replicas: Fixed replicas per stage; None keeps those in force at the first decision.
    """

    def __init__(
        self,
        solver: ThemisSolver,
        preset: ControllerPreset | str,
        *,
        rule: Literal["sponge", "themis"] = "sponge",
        stabilisation: int = 0,
        replicas: Sequence[int] | None = None,
    ) -> None:
        if rule not in ("sponge", "themis"):
            raise ConfigError(f"rule = {rule!r} is not allowed; choose 'sponge' or 'themis'")
        if stabilisation < 0:
            raise ConfigError(f"stabilisation = {stabilisation} must be >= 0 decisions")
        self.preset = CONTROLLER_PRESETS[preset] if isinstance(preset, str) else preset
        self.rule = rule
        self.solver = (
            solver
            if rule == "themis"
            else ThemisSolver(
                solver.stages,
                solver.slo_ms,
                sponge_preset(self.preset.solver),
                max_batch=solver.max_batch,
                max_cores=solver.max_cores,
            )
        )
        self.stabilisation = int(stabilisation)
        self.fixed = None if replicas is None else [int(r) for r in replicas]
        self._initial_fixed = self.fixed
        self.counter = 0

    def reset(self) -> None:
        """Forget the fixed replicas (unless given) and the stabilisation count."""
        self.fixed = self._initial_fixed
        self.counter = 0

    def decide(self, history: np.ndarray, current: Sequence[Target]) -> Decision:
        """One decision (see the class docstring)."""
        current = [tuple(int(v) for v in t) for t in current]
        if self.fixed is None:
            self.fixed = [n for n, _, _ in current]
        p = self.preset
        load = current_rate(history, p.rate_window_s, p.rate_statistic)
        plan = self.solver.vertical_with_fallback(load, self.fixed)
        if plan.feasible:
            mode, reason = "vertical", ""
            chosen = [(st.cores, st.batch) for st in plan.stages]
        else:
            best = self.solver.max_out(load)
            mode, reason = "degraded", best.reason
            chosen = [(st.cores, st.batch) for st in best.stages]
        targets = tuple((n, c, b) for n, (c, b) in zip(self.fixed, chosen, strict=True))
        shrinking = any(c < cur[1] for (_, c, _), cur in zip(targets, current, strict=True))
        if shrinking and self.counter < self.stabilisation:
            self.counter += 1
            held = tuple((n, cur[1], cur[2]) for n, cur in zip(self.fixed, current, strict=True))
            return Decision(
                held, "hold", load, float(load), f"stabilising {self.counter}/{self.stabilisation}"
            )
        self.counter = 0
        return Decision(targets, mode, load, float(load), reason)
