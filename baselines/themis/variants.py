"""``themis-variants``: Themis's two-stage controller with a model-variant choice on top.

None of Themis, IPA or InfAdapter scales all three axes; this policy is the project's design.
It keeps Themis's controller (vertical scaling to absorb a surge, horizontal once the load is
stable; :class:`~themis_env.baselines.themis.controller.TwoStageController`) for the replicas,
cores and batch, and adds, on a slower clock, IPA's kind of choice of one variant per stage:

* **Choice.** Every ``variant_interval_s`` (30 s) it plans, for each combination of one variant
  per stage, Themis's horizontal DP at the load the controller would plan for (the max of the
  last 10 s, the controller's recent-max reference), and scores the combination with the env's
  own reward trade-off: ``w_accuracy · accuracy − w_cost · cores / cluster cores``, accuracy
  being the pipeline accuracy of the combination as the env computes it (normalised and
  combined as the pipeline declares). Combinations the DP finds infeasible are out; with none
  feasible, the current one stays.
* **Weights.** ``w_accuracy`` and ``w_cost`` default to the scenario's reward weights, except
  that a scenario with ``w_accuracy`` 0 (the default) would always choose the cheapest variants,
  so 1 is used then.
* **Hysteresis.** It switches only for a score gain above ``switch_margin`` (0.01), so Poisson
  noise does not flip variants (each switch pays the new variant's load time).
* **Switching.** On a switch the controller is rebuilt for the new combination's latency
  models (fresh stabilisation state) and the old variant's replicas stay, at their count,
  until the stage has no replica starting or pending and the new variant has its target; they
  then go (a rolling update, as IPA's switch).
* **Cost** is counted in cores (the solver's own cost is kept for the plans).
* **Preset.** The controller's preset defaults to the pipeline's without ``-variants``
  (``themis-arxiv-variants`` → ``themis-arxiv``), and to ``themis-arxiv`` for other presets
  (``infadapter``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from themis_env.baselines.themis.controller import CONTROLLER_PRESETS, Decision
from themis_env.baselines.themis.policy import Target, ThemisPolicy, _solver_for
from themis_env.baselines.themis.solvers import ThemisSolver
from themis_env.baselines.variants import variant_replicas, variant_target

from themis_env.envs.views import policy_view
from themis_env.errors import PolicyError

__all__ = ["ThemisVariantsPolicy"]

RECENT_S = 10  # the controller's recent-max window [s]


class ThemisVariantsPolicy(ThemisPolicy):
    """Themis's two-stage controller plus a variant per stage chosen every 30 s.

    **Observes:** what ``themis`` observes, plus ``variant_replicas``. Static knowledge: every
    variant's latency profile and accuracy, the reward weights.

    **Parameters:** those of :class:`~themis_env.baselines.themis.policy.ThemisPolicy`, and

    * ``variant_interval_s`` = 30: time between variant choices [s].
    * ``w_accuracy``, ``w_cost``: the score's weights (default: see the module docstring).
    * ``switch_margin`` = 0.01: the score gain a switch needs.

    **Source:** the project's design (module docstring) on Themis (arXiv 2407.14843), with the
    variant axis of IPA (arXiv 2308.12871).
    """

    name = "themis-variants"
    # Its rolling variant switches size the stage themselves; replacements would fight them.
    supports_resize_fallback = False

    def __init__(
        self,
        env: Any,
        *,
        variant_interval_s: float = 30.0,
        w_accuracy: float | None = None,
        w_cost: float | None = None,
        switch_margin: float = 0.01,
        **themis: Any,
    ) -> None:
        if themis.get("preset") is None:
            base = str(policy_view(env).pipeline.config.preset or "").removesuffix("-variants")
            themis["preset"] = base if base in CONTROLLER_PRESETS else "themis-arxiv"
        super().__init__(env, **themis)
        self.params.update(
            variant_interval_s=variant_interval_s,
            w_accuracy=w_accuracy,
            w_cost=w_cost,
            switch_margin=switch_margin,
        )
        pipeline = self.view.pipeline
        if not any(lim.variants for lim in self.limits) or not pipeline.has_accuracy:
            raise PolicyError(
                f"{self.name}: scenario {self.view.scenario.name!r} has no stage with model "
                "variants; use 'themis'"
            )
        if not variant_interval_s > 0 or not switch_margin >= 0:
            raise PolicyError(
                f"{self.name}: variant_interval_s = {variant_interval_s!r} must be > 0 and "
                f"switch_margin = {switch_margin!r} >= 0"
            )
        reward = self.view.scenario.reward
        self.w_accuracy = float(
            w_accuracy if w_accuracy is not None else (reward.w_accuracy or 1.0)
        )
        self.w_cost = float(w_cost if w_cost is not None else reward.w_cost)
        self.switch_margin = float(switch_margin)
        self.cluster_cores = self.view.cluster.nodes * self.view.cluster.cores_per_node
        self.width = len(self.view.current_targets[0])
        self.var_pace = max(1, round(float(variant_interval_s) / self.interval))
        models = pipeline.stage_models
        acc = pipeline.normalised_accuracy()
        self.combos = list(itertools.product(*[range(len(m)) for m in models]))
        self.combo_accuracy = [
            pipeline.combine_accuracy([acc[s][v] for s, v in enumerate(c)]) for c in self.combos
        ]
        self.solvers: list[ThemisSolver] = [
            _solver_for(self.view, self.preset, [models[s][v] for s, v in enumerate(c)])
            for c in self.combos
        ]
        initial = [list(t) for t in self.view.current_targets]
        start = tuple(
            int(np.argmax(initial[s][: len(lim.variants)])) if lim.variants else 0
            for s, lim in enumerate(self.limits)
        )
        self.initial_combo = self.combos.index(start)
        self.reset()

    def reset(self) -> None:
        """Start a new episode at the initial configuration's variants."""
        super().reset()
        self.combo = self.initial_combo
        self._use(self.combo)
        self._old: list[tuple[int, int] | None] = [None] * len(self.limits)
        self._table = np.zeros((len(self.limits), max(1, self.width - 2)), dtype=int)

    def _use(self, k: int) -> None:
        self.combo = k
        self.solver = self.solvers[k]
        self.controller = self._controller_for(self.solver)

    def score(self, k: int, load: float) -> float | None:
        """The score of combination ``k`` at ``load`` (None: the DP finds no plan)."""
        plan = self.solvers[k].horizontal(load)
        if not plan.feasible:
            return None
        cores = sum(r * c for r, c, _ in plan.targets())
        return self.w_accuracy * self.combo_accuracy[k] - self.w_cost * cores / self.cluster_cores

    def _choose(self, history: np.ndarray) -> None:
        load = float(history[-RECENT_S:].max())
        scores = [self.score(k, load) for k in range(len(self.combos))]
        feasible = [k for k, v in enumerate(scores) if v is not None]
        if not feasible:
            return
        best = max(feasible, key=lambda k: (scores[k], -k))
        now = scores[self.combo]
        if best != self.combo and (now is None or scores[best] > now + self.switch_margin):
            old_combo = self.combos[self.combo]
            for s, (v_old, v_new) in enumerate(zip(old_combo, self.combos[best], strict=True)):
                n_old = int(self._table[s, v_old])
                if v_old != v_new and self._old[s] is None and n_old > 0:
                    self._old[s] = (v_old, n_old)
                elif self._old[s] is not None and self._old[s][0] == v_new:
                    self._old[s] = None
            self._use(best)

    def _read(self, obs: Any) -> tuple[np.ndarray, list[Target], float]:
        history, current, elapsed = super()._read(obs)
        d = self.view.obs_as_dict(obs)
        self._d = d
        self._table = variant_replicas(d, len(self.limits))
        combo = self.combos[self.combo]
        # The controller sees the chosen variants' replicas (plus the pending), not the old ones.
        for s, lim in enumerate(self.limits):
            if lim.variants:
                pending = int(round(float(d["replicas_pending"][s])))
                n = int(self._table[s, combo[s]]) + pending
                current[s] = (max(n, lim.min_replicas), current[s][1], current[s][2])
        return history, current, elapsed

    def _decide(self, history: np.ndarray, current: list[Target]) -> Decision:
        if (self._steps - 1) % self.var_pace == 0:
            self._choose(history)
        return super()._decide(history, current)

    def act(self, obs: Any) -> np.ndarray:
        """Themis's targets for the chosen variants, with the old ones kept while rolling."""
        decision = self._next_decision(obs)
        combo = self.combos[self.combo]
        d = self._d
        targets = []
        for s, (n, c, b) in enumerate(decision.targets):
            replicas = [0] * max(1, self.width - 2)
            replicas[combo[s]] = n
            old = self._old[s]
            if old is not None:
                settled = (
                    float(d["replicas_starting"][s]) == 0
                    and float(d["replicas_pending"][s]) == 0
                    and self._table[s, combo[s]] >= n
                )
                if settled:
                    self._old[s] = None
                else:
                    replicas[old[0]] = old[1]
            targets.append(variant_target(self.width, replicas, c, b))
        return self.view.encode_targets(targets)
