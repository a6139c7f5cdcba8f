"""Env policies built on the Themis solvers: ``themis``, ``horizontal``, ``vertical``, ``oracle``.

All four read the env through :class:`~themis_env.envs.views.PolicyView`: the observation
(through ``obs_as_dict``: per-second arrival history, replicas incl. pending, cores, batch) plus
static scenario knowledge read once at construction, as the real adapter knows its offline
profiles: the stages' latency models (``pipeline.models[s].latency``, evaluated with the
preset's profiling rule), pod memory, the SLO, the stage limits and the decision interval.
``oracle`` (and ``themis`` with ``predictor="oracle"``) also reads the future trace through
:class:`~themis_env.envs.views.PrivilegedView` and is marked privileged. Actions come from
``encode_targets``, so every action mode works (in the delta mode a target is approached one
step per decision).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from themis_env.baselines.base import Policy
from themis_env.baselines.themis.controller import (
    CONTROLLER_PRESETS,
    ControllerPreset,
    Decision,
    HorizontalOnlyController,
    TwoStageController,
    VerticalOnlyController,
)
from themis_env.baselines.themis.predictors import LoadPredictor, make_predictor
from themis_env.baselines.themis.solvers import ThemisSolver

from themis_env.config import ModelConfig
from themis_env.envs.views import PolicyView, policy_view, privileged_view
from themis_env.errors import PolicyError, did_you_mean

__all__ = ["ThemisPolicy", "HorizontalOnlyPolicy", "VerticalOnlyPolicy", "OraclePolicy"]

Target = tuple[int, int, int]


def _preset_for(view: PolicyView, preset: str | None) -> ControllerPreset:
    name = preset or view.pipeline.config.preset or "themis-arxiv"
    if name not in CONTROLLER_PRESETS:
        raise PolicyError(
            f"unknown Themis preset {name!r}.{did_you_mean(name, CONTROLLER_PRESETS)} "
            f"Choose one of {sorted(CONTROLLER_PRESETS)}"
        )
    return CONTROLLER_PRESETS[name]


def _solver_for(
    view: PolicyView, preset: ControllerPreset, models: Sequence[ModelConfig] | None = None
) -> ThemisSolver:
    """The pipeline's solver from the scenario's profiles (or ``models``, one per stage)."""
    models = view.pipeline.models if models is None else models
    limits = view.stage_limits
    return ThemisSolver(
        [m.latency for m in models],
        view.slo_ms,
        preset.solver,
        max_batch=[lim.max_batch for lim in limits],
        max_cores=[lim.max_cores for lim in limits],
        max_replicas=[lim.max_replicas for lim in limits],
        memory_gb=[m.memory_gb for m in models],
    )


class _ObservingPolicy(Policy):
    """Shared plumbing: read the observation, count the seconds seen, encode targets."""

    def __init__(self, env: Any, preset: str | None = None, warmup_s: float = 0.0, **params: Any):
        super().__init__(env, preset=preset, warmup_s=warmup_s, **params)
        self.view = policy_view(env)
        self.preset = _preset_for(self.view, preset)
        self.solver = _solver_for(self.view, self.preset)
        self.interval = float(self.view.decision_interval_s)
        self.warmup_s = float(warmup_s)
        self.limits = list(self.view.stage_limits)
        self.last_decision: Decision | None = None
        # Plans are made for the observed arrivals times this factor (forecast, λ_now and the
        # references scale together); 1 plans for the load as observed. A learned headroom
        # (themis_env.agents.residual) sets it before each decision.
        self.load_scale = 1.0
        # Plan from the targets this policy set last instead of the live configuration: a
        # controller that runs beside others whose plans may be in force (ExpertPlanner of
        # themis_env.agents.residual) then plans as if it alone were in force.
        self.plan_from_own = False
        self._steps = 0
        self._ready: list[int] = []
        self._starting: list[int] = []  # cold-starting replicas per stage

    def reset(self) -> None:
        """Start a new episode: no arrivals seen yet."""
        self._steps = 0
        self.last_decision = None

    def _read(self, obs: Any) -> tuple[np.ndarray, list[Target], float]:
        d = self.view.obs_as_dict(obs)
        self._ready = [int(round(float(v))) for v in d["replicas_ready"]]
        self._starting = [int(round(float(v))) for v in d["replicas_starting"]]
        elapsed = self._steps * self.interval
        rates = np.asarray(d["arrival_rate"], dtype=np.float64)
        # Only whole seconds that really passed; the history starts as zeros at reset.
        seen = min(int(math.floor(elapsed + 1e-9)), len(rates))
        history = rates[len(rates) - seen :]
        if self.load_scale != 1.0:
            history = history * self.load_scale
        current = []
        for s, lim in enumerate(self.limits):
            n = int(round(float(d["replicas"][s]) + float(d["replicas_pending"][s])))
            c = int(round(float(d["cores"][s])))
            b = int(round(float(d["batch"][s])))
            current.append((max(n, lim.min_replicas), max(c, 1), max(b, 1)))
        if self.plan_from_own and self.last_decision is not None:
            current = [(int(n), int(c), int(b)) for n, c, b in self.last_decision.targets]
        return history, current, elapsed

    def _decide(self, history: np.ndarray, current: list[Target]) -> Decision:
        raise NotImplementedError

    def _next_decision(self, obs: Any) -> Decision:
        """The decision for one observation (holds the current targets during warm-up)."""
        history, current, elapsed = self._read(obs)
        self._steps += 1
        if elapsed < self.warmup_s or len(history) == 0:
            decision = Decision(tuple(current), "hold", 0, 0.0, "warm-up: no arrivals seen yet")
        else:
            decision = self._decide(history, current)
        self.last_decision = decision
        return decision

    def act(self, obs: Any) -> np.ndarray:
        """The action for one observation (holds the current targets during warm-up)."""
        return self.view.encode_targets(list(self._next_decision(obs).targets))

    def describe(self) -> dict[str, Any]:  # noqa: D102
        out = super().describe()
        out["privileged"] = self.privileged
        out["preset"] = self.preset.name
        return out


class ThemisPolicy(_ObservingPolicy):
    """Themis (arXiv 2407.14843): two-stage autoscaling with the DP solvers.

    Vertical scaling first when the load surges, horizontal scaling once it is stable; see
    :mod:`themis_env.baselines.themis.controller` for the rules of both presets.

    Observes: the per-second arrival history, replicas (incl. pending), cores and batch per
    stage; statically, the stages' latency profiles, pod memory, SLO, stage limits and
    decision interval.

    Args:
        env: The env (any wrappers; below them an ``InferenceClusterEnv``).
        preset: ``themis-arxiv`` or ``themis-2025``; default: the pipeline's preset.
        predictor: Load predictor: ``heuristic`` (default), ``learned`` (the shipped forecaster
            trained on the first 14 days of twitter-2021-08; falls back to the heuristic with a
            warning if its weights are missing) or ``oracle`` (privileged), or a
            :class:`~themis_env.baselines.themis.predictors.LoadPredictor`.
        forecaster: Weights file for ``learned`` (default: the shipped one).
        stabilisation: Consecutive horizontal requests before one applies (default: the
            preset's: arXiv 5 for video, 10 otherwise; 2025 10 s of decisions).
        warmup_s: Hold the initial configuration this long [s] (default 0; the authors'
            adapter starts after 60 s / 30 s because its monitor needs history, while the
            env's observation carries it from the first second).
        forecast_reference: arXiv rule (c) compares the forecast with ``recent-max`` (the
            max of the last 10 s, default) or ``rate`` (λ_now, the code's literal rule, which
            under Poisson arrivals never lets Themis go horizontal); see
            :class:`~themis_env.baselines.themis.controller.TwoStageController`.
        resize_fallback: Replace a replica whose in-place resize the node defers by a new
            replica of the wanted size, then remove the old one once the new is ready (see
            below). Default: on where the cluster defers resizes (``cluster.resize_policy:
            defer``, where a scale-in removes the unresized replica first), off under
            ``fail`` (v0), where the env would remove the new replica instead.

    **When an in-place resize does not fit.** The authors' 2025 adapter reads each pod's
    resize condition after patching it (``react_to_update_status`` in ``adapter/main.py`` at
    ``8b3bfdd``): on ``PodResizePending`` it sets the pod's threads back, creates a new pod
    with the requested cores (the scheduler places it where it fits), waits until it has
    answered ``/initialize``, then deletes the old pod; the arXiv-era adapter (``b01017f``)
    and the paper's text (arXiv 2407.14843 v1, of which only the abstract and introduction
    could be read) do not describe one. Here: a stage with replicas the node has not resized
    (:meth:`~themis_env.envs.views.PolicyView.unresized_replicas`) while its target cores
    stand gets that many extra replicas (at most as many as the nodes' free cores hold); when
    none of the stage's replicas is cold-starting any more, the extras are dropped from the
    target, and the env's scale-in removes the unresized replicas first. The controller keeps
    seeing the stage without the extras. A resize beyond a node's cores (Infeasible) is not
    replaced: no node could hold the pod.

    Source: Themis (arXiv 2407.14843); the authors' code, ``mehransi/Themis`` ``adapter/``
    ``optimizer.py``, ``main.py`` and ``starter.py`` at ``b01017f`` (arXiv) and ``8b3bfdd`` (2025).
    """

    name = "themis"
    supports_resize_fallback = True

    def __init__(
        self,
        env: Any,
        preset: str | None = None,
        predictor: str | LoadPredictor = "heuristic",
        forecaster: str | None = None,
        stabilisation: int | None = None,
        warmup_s: float = 0.0,
        forecast_reference: str = "recent-max",
        resize_fallback: bool | None = None,
    ) -> None:
        pred_name = predictor if isinstance(predictor, str) else predictor.name
        super().__init__(
            env,
            preset=preset,
            warmup_s=warmup_s,
            predictor=pred_name,
            forecaster=forecaster,
            stabilisation=stabilisation,
            forecast_reference=forecast_reference,
            resize_fallback=resize_fallback,
        )
        if resize_fallback is None:
            resize_fallback = (
                self.supports_resize_fallback and self.view.cluster.resize_policy == "defer"
            )
        self.resize_fallback = bool(resize_fallback)
        self._replacing = [0] * len(self.limits)  # extra replicas replacing unresized ones
        kwargs = (
            {"weights": forecaster} if forecaster is not None and predictor == "learned" else {}
        )
        self.predictor = make_predictor(predictor, env, **kwargs)
        self.privileged = bool(self.predictor.privileged)
        self._stabilisation = stabilisation
        self._forecast_reference = forecast_reference
        self.controller = self._controller_for(self.solver)

    def _controller_for(self, solver: ThemisSolver) -> TwoStageController:
        """A fresh two-stage controller planning with ``solver``."""
        return TwoStageController(
            solver,
            self.preset,
            self.predictor,
            decision_interval_s=self.interval,
            stabilisation=self._stabilisation,
            pipeline=self.view.pipeline.config.name,
            min_replicas=[lim.min_replicas for lim in self.limits],
            max_replicas=[lim.max_replicas for lim in self.limits],
            forecast_reference=self._forecast_reference,  # type: ignore[arg-type]
            cluster_cores=self.view.cluster.nodes * self.view.cluster.cores_per_node,
        )

    def reset(self) -> None:  # noqa: D102
        super().reset()
        self.controller.reset()
        self._replacing = [0] * len(self.limits)

    def _decide(self, history: np.ndarray, current: list[Target]) -> Decision:
        return self._plan(history, current)

    def _plan(self, history: np.ndarray, current: list[Target]) -> Decision:
        """The controller's decision (with ``resize_fallback``, plus the replacements)."""
        if not self.resize_fallback:
            return self.controller.decide(history, current, self._ready)
        # The controller plans without the replacements (they stand in for replicas it has).
        seen = [(n - e, c, b) for (n, c, b), e in zip(current, self._replacing, strict=True)]
        ready = [min(r, n) for r, (n, _, _) in zip(self._ready, seen, strict=True)]
        decision = self.controller.decide(history, seen, ready)
        unresized = self.view.unresized_replicas()
        node_cores = self.view.cluster.cores_per_node
        free = self.view.free_cores()
        targets = []
        for s, ((n, c, b), (_, c_now, _)) in enumerate(zip(decision.targets, current, strict=True)):
            waiting = int(unresized[s])
            if waiting == 0 or c != c_now or c > node_cores:
                # Resized, or a new size asked (every replica is patched again), or Infeasible.
                self._replacing[s] = 0
            elif self._replacing[s] == 0:
                # New replicas at c, as many as some node has room for (the others would
                # wait unscheduled, as a pod the scheduler cannot place stays Pending).
                room = int(np.floor(free / c).sum())
                self._replacing[s] = min(waiting, room)
                free = np.maximum(free - c * self._replacing[s], 0)  # roughly, for later stages
            elif self._starting[s] == 0:
                self._replacing[s] = 0  # the placed ones are ready: as many old replicas go
            n_total = min(n + self._replacing[s], self.limits[s].max_replicas)
            targets.append((n_total, c, b))
        return dataclasses.replace(decision, targets=tuple(targets))

    def describe(self) -> dict[str, Any]:  # noqa: D102
        out = super().describe()
        out["predictor"] = self.predictor.describe()
        out["stabilisation"] = self.controller.stabilisation
        out["resize_fallback"] = self.resize_fallback
        return out


class OraclePolicy(ThemisPolicy):
    """Privileged upper bound: Themis planning on the true future load.

    The two-stage controller with λ_now replaced by the true max rate over the next
    ``lookahead_s`` seconds (the load the coming decision must carry) and the oracle predictor
    (the true max of the next 10 s). It reads the future trace (``future_rates`` of
    :class:`~themis_env.envs.views.PrivilegedView`) and is therefore not a competitor: it
    bounds what better forecasting could give Themis.

    Observes: as :class:`ThemisPolicy`, plus the future trace (privileged).

    Args:
        env: The env.
        preset: ``themis-arxiv`` or ``themis-2025``; default: the pipeline's preset.
        lookahead_s: Seconds of future load λ_now covers (default: the decision interval plus
            the resize delay, rounded up to whole seconds).
        stabilisation: As :class:`ThemisPolicy`.

    Source: not in the paper (an upper bound of this project's making); controller as
    :class:`ThemisPolicy`.
    """

    name = "oracle"
    privileged = True

    def __init__(
        self,
        env: Any,
        preset: str | None = None,
        lookahead_s: float | None = None,
        stabilisation: int | None = None,
    ) -> None:
        # λ_now and the forecast are both true rates here: compare them literally.
        super().__init__(
            env,
            preset=preset,
            predictor="oracle",
            stabilisation=stabilisation,
            forecast_reference="rate",
        )
        self.trace = privileged_view(env)
        if lookahead_s is None:
            lookahead_s = self.interval + float(self.view.cluster.resize_delay_s)
        if lookahead_s <= 0:
            raise PolicyError(f"lookahead_s = {lookahead_s} must be > 0")
        self.lookahead_s = float(lookahead_s)
        self.params["lookahead_s"] = self.lookahead_s
        self.privileged = True

    def act(self, obs: Any) -> np.ndarray:
        """Decide on the true coming load (no warm-up: the future is known from the start)."""
        history, current, _ = self._read(obs)
        self._steps += 1
        future = self.trace.future_rates(max(1, int(math.ceil(self.lookahead_s))))
        load = float(future.max()) if len(future) else 0.0
        # The controller takes λ_now from the last seconds of the history it is given, so
        # hand it the coming load as that history.
        window = self.preset.rate_window_s
        decision = self._plan(np.concatenate([history, np.full(window, load)]), current)
        self.last_decision = decision
        return self.view.encode_targets(list(decision.targets))


class HorizontalOnlyPolicy(_ObservingPolicy):
    """The paper's horizontal-only baseline: the horizontal DP with 1-core replicas.

    Every decision the horizontal DP sets replicas and batch for λ_now at 1 core per replica;
    scale-ins wait for the stabilisation count (``adapt_ho``). Cores never change.

    Observes: as :class:`ThemisPolicy` (no predictor).

    Args:
        env: The env.
        preset: ``themis-arxiv`` or ``themis-2025``; default: the pipeline's preset.
        stabilisation: Consecutive scale-in requests before one applies (default: the
            preset's, as :class:`ThemisPolicy`).
        warmup_s: Hold the initial configuration this long [s] (default 0).

    Source: Themis's ``ho`` baseline, ``adapt_ho`` in ``mehransi/Themis`` ``adapter/main.py``
    (``b01017f``, ``8b3bfdd``), chosen by ``adapter_type`` in ``starter.py``.
    """

    name = "horizontal"

    def __init__(
        self,
        env: Any,
        preset: str | None = None,
        stabilisation: int | None = None,
        warmup_s: float = 0.0,
    ) -> None:
        super().__init__(env, preset=preset, warmup_s=warmup_s, stabilisation=stabilisation)
        self.controller = HorizontalOnlyController(
            self.solver,
            self.preset,
            decision_interval_s=self.interval,
            stabilisation=stabilisation,
            pipeline=self.view.pipeline.config.name,
            min_replicas=[lim.min_replicas for lim in self.limits],
            max_replicas=[lim.max_replicas for lim in self.limits],
        )

    def reset(self) -> None:  # noqa: D102
        super().reset()
        self.controller.reset()

    def _decide(self, history: np.ndarray, current: list[Target]) -> Decision:
        return self.controller.decide(history, current)


class VerticalOnlyPolicy(_ObservingPolicy):
    """Vertical-only baseline after Sponge: in-place cores and batch, replicas fixed.

    Every decision picks cores and batch per stage for λ_now at the fixed replicas, scaling
    cores up and down (see :class:`~themis_env.baselines.themis.controller.VerticalOnlyController`).

    Observes: as :class:`ThemisPolicy` (no predictor).

    Args:
        env: The env.
        preset: ``themis-arxiv`` or ``themis-2025`` (rate measurement); default: the
            pipeline's preset.
        rule: ``sponge`` (default: Sponge's drain-within-0.9·SLO rule) or ``themis`` (the
            Themis vertical DP, the paper's ``vo`` baseline).
        stabilisation: Consecutive scale-down requests before one applies (default 0, as
            Sponge and the arXiv code; the 2025 code waits 10 s).
        replicas: Fixed replicas per stage (default: those in force at the first decision,
            i.e. the scenario's initial configuration).
        warmup_s: Hold the initial configuration this long [s] (default 0).

    Source: Sponge (EuroMLSys'24, arXiv 2404.00704; ``saeid93/sponge@aa00b56c``
    ``optimizer/optimizer.py``, ``Optimizer.dynainf``) and Themis's ``vo`` baseline
    (``adapt_vo`` in ``mehransi/Themis`` ``adapter/main.py``).
    """

    name = "vertical"

    def __init__(
        self,
        env: Any,
        preset: str | None = None,
        rule: str = "sponge",
        stabilisation: int = 0,
        replicas: list[int] | None = None,
        warmup_s: float = 0.0,
    ) -> None:
        super().__init__(
            env,
            preset=preset,
            warmup_s=warmup_s,
            rule=rule,
            stabilisation=stabilisation,
            replicas=replicas,
        )
        if rule not in ("sponge", "themis"):
            raise PolicyError(f"rule = {rule!r} is not allowed; choose 'sponge' or 'themis'")
        if replicas is not None and len(replicas) != len(self.limits):
            raise PolicyError(
                f"replicas = {replicas} must give one count per stage ({len(self.limits)} stages)"
            )
        self.controller = VerticalOnlyController(
            self.solver,
            self.preset,
            rule=rule,
            stabilisation=stabilisation,
            replicas=replicas,  # type: ignore[arg-type]
        )

    def reset(self) -> None:  # noqa: D102
        super().reset()
        self.controller.reset()

    def act(self, obs: Any) -> np.ndarray:
        """As the base policy, but fixed replicas apply from the first decision."""
        if self.controller.fixed is not None and self._steps == 0:
            history, current, _ = self._read(obs)
            self._steps += 1
            targets = [
                (n, c, b) for n, (_, c, b) in zip(self.controller.fixed, current, strict=True)
            ]
            self.last_decision = Decision(tuple(targets), "hold", 0, 0.0, "fixed replicas")
            return self.view.encode_targets(targets)
        return super().act(obs)

    def _decide(self, history: np.ndarray, current: list[Target]) -> Decision:
        return self.controller.decide(history, current)
