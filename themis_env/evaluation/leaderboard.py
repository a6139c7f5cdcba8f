"""Rank policies from run records: who meets the SLO target, at what cost.

The ranking (the headline)
--------------------------

An operator asks *which policy meets my SLO at the lowest cost*. Each suite states an
SLO-attainment target *T* (``slo_target``, default 0.99; ``--slo-target`` overrides it), where a
run's ``slo_attainment`` is the fraction of its arrived requests completed within the SLO (a
drop is a miss). In each scenario table:

1. policies whose mean attainment over seeds is at least *T* (and with no failed run) come
   first, ranked by mean cost (the suite's cost KPI), cheapest first;
2. then every other policy, ranked by mean attainment, highest first.

So a policy below the target never ranks above one that meets it, however cheap it is. The
overall table applies the same rule: a policy meets the target overall when it meets it on every
scenario it ran, and those are ranked by the cost ratio to the references (below, geometric
mean over scenarios), the others by their mean attainment over scenarios. A learned agent is
ranked on the scenarios it can run, after the policies that ran every scenario in the same
group (met / not met), since its means cover fewer scenarios; the notes say which scenarios it
cannot run and why.

Per scenario, a policy is on the cost–attainment **frontier** (Pareto) when no other ranked
policy has both lower-or-equal mean cost and higher-or-equal mean attainment, one of them
strictly.

The normalised score (secondary)
--------------------------------

The score below is kept as a secondary column. It trades violations against cost, so a policy
that stops serving a surge can score well; it does not decide the ranking.

For every scenario *s* and seed *k*, a policy's SLO violation rate *v* and cost *c* are
divided by those of the suite's reference policies *R* (by default HPA and VPA, the
Kubernetes autoscalers) on the **same scenario and seed**::

    n_v = (v + ε) / G_R(v_r + ε)          n_c = c / G_R(c_r)
    score(s, k) = n_v ** w  ·  n_c ** (1 − w)

where ``G_R`` is the geometric mean over the reference policies (the value itself when there
is one), ε the ``violation_floor`` (default 0.01, so two near-zero violation rates do not
make an enormous ratio) and *w* the ``violation_weight`` (default 0.5). A policy's overall
score for seed *k* is the geometric mean of ``score(s, k)`` over the scenarios; the table shows
its mean over seeds with a 95 % confidence interval. **Lower is better; 1.0 is as good as the
references**; 0.5 is, for example, half the violations at the same cost. This follows
CityLearn's baseline-normalised KPIs and CompilerGym's geometric mean over benchmarks.

Confidence intervals are Student-t intervals over seeds: mean ± t(0.975, n−1)·s/√n; with a
single seed there is none. Privileged policies (which see the future trace) are shown but not
ranked. A policy with failed runs does not meet the target and is ranked after the complete
ones, by its attainment over the seeds it has.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from themis_env.evaluation.records import json_safe
from themis_env.evaluation.run_record import RunRecord
from themis_env.evaluation.suites import DEFAULT_SLO_TARGET, ReferenceConfig, SkippedRun
from themis_env.sim.simulator import request_slo_kpis

__all__ = [
    "KPI_COLUMNS",
    "VARIANT_KPI_COLUMNS",
    "RANKING_DEFINITION",
    "Stat",
    "Row",
    "Leaderboard",
    "build_leaderboard",
    "footnotes",
    "overall_table",
    "scenario_table",
    "mean_ci",
    "t_quantile_975",
    "to_markdown",
    "to_csv",
    "to_json",
    "write_atomic",
    "write_leaderboard",
    "SCORE_DEFINITION",
]

# (field, heading, where): where is "kpis" or "timing" in the record.
# Columns a scenario's table shows only where its runs have the figure: the served accuracy
# exists on pipelines whose models declare accuracies (model variants).
VARIANT_KPI_COLUMNS: tuple[tuple[str, str, str], ...] = (("accuracy", "accuracy", "kpis"),)
KPI_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("slo_attainment", "SLO attainment", "kpis"),
    ("goodput", "goodput [req/s]", "kpis"),
    ("slo_violation_rate", "SLO violation", "kpis"),
    ("late_or_dropped_fraction", "late or dropped", "kpis"),
    ("cost", "cost", "kpis"),
    ("cost_core_seconds", "core-seconds", "kpis"),
    ("mean_cores", "mean cores", "kpis"),
    ("latency_p50_ms", "p50 [ms]", "kpis"),
    ("latency_p95_ms", "p95 [ms]", "kpis"),
    ("latency_p99_ms", "p99 [ms]", "kpis"),
    ("dropped", "dropped", "kpis"),
    ("horizontal_actions", "horizontal actions", "kpis"),
    ("vertical_actions", "vertical actions", "kpis"),
    ("failed_resizes", "failed resizes", "kpis"),
    ("mean_reward", "mean reward", "kpis"),
    ("decision_ms_mean", "decision [ms]", "timing"),
)

RANKING_DEFINITION = (
    "Policies whose mean SLO attainment (fraction of arrived requests completed within the SLO; "
    "a drop is a miss) meets the suite's target, with no failed run, are ranked by mean cost; "
    "the others follow, ranked by mean attainment. Overall: meeting the target on every "
    "scenario run, ranked by the cost ratio to the reference policies."
)

SCORE_DEFINITION = (
    "score = geometric mean over scenarios of ((v + ε) / G_R(v_r + ε))^w · (c / G_R(c_r))^(1−w), "
    "per seed against the reference policies R on the same scenario and seed (G_R: geometric "
    "mean over R; v: SLO violation rate; c: cost); mean ± 95 % CI over seeds. Lower is better; "
    "1.0 = the references."
)

# Student t quantiles t(0.975, df) for df = 1..30, then a few larger df (interpolated in 1/df).
_T975 = (
    12.706205,
    4.302653,
    3.182446,
    2.776445,
    2.570582,
    2.446912,
    2.364624,
    2.306004,
    2.262157,
    2.228139,
    2.200985,
    2.178813,
    2.160369,
    2.144787,
    2.131450,
    2.119905,
    2.109816,
    2.100922,
    2.093024,
    2.085963,
    2.079614,
    2.073873,
    2.068658,
    2.063899,
    2.059539,
    2.055529,
    2.051831,
    2.048407,
    2.045230,
    2.042272,
)
_T975_TAIL = ((30, 2.042272), (40, 2.021075), (60, 2.000298), (120, 1.979930), (math.inf, 1.959964))


def t_quantile_975(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (≥ 1)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be ≥ 1, got {df}")
    if df <= 30:
        return _T975[df - 1]
    for (d0, t0), (d1, t1) in zip(_T975_TAIL[:-1], _T975_TAIL[1:], strict=True):
        if d0 <= df <= d1:
            x0, x1, x = 1 / d0, (0.0 if math.isinf(d1) else 1 / d1), 1 / df
            return t0 + (t1 - t0) * (x - x0) / (x1 - x0)
    return _T975_TAIL[-1][1]  # pragma: no cover


@dataclass(frozen=True)
class Stat:
    """A mean over seeds with the half-width of its 95 % confidence interval (None for n < 2)."""

    mean: float | None
    ci95: float | None
    n: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {"mean": self.mean, "ci95": self.ci95, "n": self.n}


def mean_ci(values: Iterable[float | None]) -> Stat:
    """Mean and 95 % Student-t half-width of the finite values."""
    xs = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = len(xs)
    if n == 0:
        return Stat(None, None, 0)
    mean = float(xs.mean())
    if n == 1:
        return Stat(mean, None, 1)
    half = t_quantile_975(n - 1) * float(xs.std(ddof=1)) / math.sqrt(n)
    return Stat(mean, half, n)


@dataclass
class Row:
    """One policy in one table (a scenario, or the overall ranking).

    Attributes:
        policy: Policy label.
        rank: 1 = best; None for privileged or unscored policies.
        met: Whether the policy meets the SLO-attainment target (None when it has no runs).
        margin: Mean attainment minus the target.
        frontier: On the scenario's cost–attainment frontier (per-scenario tables only).
        scenarios: Scenarios the policy finished runs on (overall table), of ``scenarios_total``.
        scenarios_total: Scenarios of the table.
        score: Normalised score (mean and CI over seeds); secondary, not the ranking.
        violation_ratio: n_v, the violation ratio to the references.
        cost_ratio: n_c, the cost ratio to the references.
        kpis: Mean and CI over seeds of each KPI column.
        runs_ok: Runs that finished.
        runs_failed: Runs that raised.
        errors: One line per distinct error.
        privileged: The policy sees the future (an upper bound, not ranked).
        trace_fallback: Some run used the synthetic fallback trace.
    """

    policy: str
    rank: int | None = None
    met: bool | None = None
    margin: float | None = None
    frontier: bool = False
    scenarios: int = 1
    scenarios_total: int = 1
    score: Stat = field(default_factory=lambda: Stat(None, None, 0))
    violation_ratio: Stat = field(default_factory=lambda: Stat(None, None, 0))
    cost_ratio: Stat = field(default_factory=lambda: Stat(None, None, 0))
    kpis: dict[str, Stat] = field(default_factory=dict)
    runs_ok: int = 0
    runs_failed: int = 0
    errors: list[str] = field(default_factory=list)
    privileged: bool = False
    trace_fallback: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "policy": self.policy,
            "rank": self.rank,
            "met_target": self.met,
            "margin": self.margin,
            "frontier": self.frontier,
            "scenarios": self.scenarios,
            "scenarios_total": self.scenarios_total,
            "score": self.score.to_dict(),
            "violation_ratio": self.violation_ratio.to_dict(),
            "cost_ratio": self.cost_ratio.to_dict(),
            "kpis": {k: v.to_dict() for k, v in self.kpis.items()},
            "runs_ok": self.runs_ok,
            "runs_failed": self.runs_failed,
            "errors": self.errors,
            "privileged": self.privileged,
            "trace_fallback": self.trace_fallback,
        }


@dataclass
class Leaderboard:
    """The ranked tables of one suite.

    Attributes:
        suite: Suite name.
        reference: How the score was computed.
        slo_target: The SLO-attainment target of the ranking.
        overall: One row per policy, ranked overall.
        scenarios: Per scenario label, one row per policy ranked in that scenario.
        fallback_scenarios: Scenarios whose runs used the synthetic fallback trace.
        notes: Free text (the suite's notes and anything the harness adds).
    """

    suite: str
    reference: ReferenceConfig
    overall: list[Row]
    scenarios: dict[str, list[Row]]
    slo_target: float = DEFAULT_SLO_TARGET
    fallback_scenarios: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_REQUEST_KPIS = ("slo_attainment", "goodput")


def _value(record: RunRecord, name: str, where: str) -> float | None:
    """A figure of ``record.kpis`` or ``record.timing`` (``where``) as a float, or None.

    Records written before the request-level KPIs existed get them from their counters.
    """
    data = getattr(record, where) or {}
    value = data.get(name)
    if value is None and name in _REQUEST_KPIS and where == "kpis":
        counters = [data.get(k) for k in ("requests", "completed", "late", "episode_s")]
        if all(c is not None for c in counters):
            value = request_slo_kpis(*(float(c) for c in counters))[name]
    return None if value is None else float(value)


def _geomean(values: Sequence[float]) -> float:
    return float(math.exp(sum(math.log(v) for v in values) / len(values)))


def _rankable(row: Row) -> bool:
    return not row.privileged and row.met is not None


def _rank(rows: list[Row], cost: dict[str, float | None]) -> list[Row]:
    """Rows in ranking order with their ranks: target met by cost, then the rest by attainment.

    Among the rest, complete policies come before those with failed runs. Within each group, a
    policy that ran every scenario comes before one that ran fewer (the overall table).

    Args:
        rows: The rows, with ``met`` and their attainment set.
        cost: Per policy, the cost that orders the policies meeting the target.
    """

    def order(row: Row) -> tuple[int, int, float, str]:
        attainment = row.kpis["slo_attainment"].mean
        # Overall, a policy that ran fewer scenarios follows those that ran them all within its
        # group: its means are over other scenarios, so the figures are not like for like.
        missing = row.scenarios_total - row.scenarios
        if not _rankable(row) or attainment is None:
            return (3, 0, math.inf, row.policy)
        if row.met:
            c = cost.get(row.policy)
            return (0, missing, c if c is not None else math.inf, row.policy)
        return (2 if row.runs_failed else 1, missing, -attainment, row.policy)

    rows = sorted(rows, key=order)
    rank = 0
    for row in rows:
        if _rankable(row) and row.kpis["slo_attainment"].mean is not None:
            rank += 1
            row.rank = rank
    return rows


def _set_target(row: Row, target: float) -> None:
    """``met`` and ``margin`` of a row from its mean attainment (a failed run never meets it)."""
    attainment = row.kpis["slo_attainment"].mean
    if attainment is None:
        return
    row.margin = attainment - target
    row.met = attainment >= target and not row.runs_failed


def _mark_frontier(rows: Sequence[Row], cost_key: str) -> None:
    """Flag the rows on the cost–attainment Pareto frontier (ranked rows only)."""
    points = {
        r.policy: (r.kpis[cost_key].mean, r.kpis["slo_attainment"].mean)
        for r in rows
        if _rankable(r)
        and r.kpis[cost_key].mean is not None
        and r.kpis["slo_attainment"].mean is not None
    }
    for r in rows:
        if r.policy not in points:
            continue
        c, a = points[r.policy]
        r.frontier = not any(
            c2 <= c and a2 >= a and (c2 < c or a2 > a)
            for p2, (c2, a2) in points.items()
            if p2 != r.policy
        )


# (n_v, n_c) of a policy per seed: its violation and cost ratios to the references.
SeedRatios = dict[int, tuple[float, float]]


@dataclass(frozen=True)
class _Runs:
    """The records by (scenario, policy) label, with the scenarios and policies in table order."""

    cells: dict[tuple[str, str], list[RunRecord]]
    scenarios: list[str]
    policies: list[str]

    def ok_by_seed(self, scenario: str, policy: str) -> dict[int, RunRecord]:
        """The finished runs of one cell by seed."""
        return {r.seed: r for r in self.cells.get((scenario, policy), []) if r.ok}


def _group_runs(
    records: Iterable[RunRecord],
    scenarios: Sequence[str] | None,
    policies: Sequence[str] | None,
) -> _Runs:
    """Group the records by cell; scenarios and policies keep the given order, then appearance."""
    cells: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    scenario_order: list[str] = list(scenarios or [])
    policy_order: list[str] = list(policies or [])
    for record in records:
        sc, pol = record.scenario, record.policy.label
        if policies is not None and pol not in policies:
            continue
        if scenarios is not None and sc not in scenarios:
            continue
        cells[(sc, pol)].append(record)
        if sc not in scenario_order:
            scenario_order.append(sc)
        if pol not in policy_order:
            policy_order.append(pol)
    return _Runs(dict(cells), scenario_order, policy_order)


def _reference_values(runs: _Runs, reference: ReferenceConfig) -> dict[str, SeedRatios]:
    """Per scenario and seed: G_R(v_r + ε) and G_R(c_r), where every reference policy finished."""
    eps = reference.violation_floor
    out: dict[str, SeedRatios] = {}
    for sc in runs.scenarios:
        per_ref = [runs.ok_by_seed(sc, ref) for ref in reference.policies]
        seeds = set.intersection(*(set(p) for p in per_ref)) if per_ref else set()
        out[sc] = {}
        for k in sorted(seeds):
            v = [(_value(p[k], "slo_violation_rate", "kpis") or 0.0) + eps for p in per_ref]
            c = [max(_value(p[k], reference.cost, "kpis") or 0.0, 1e-12) for p in per_ref]
            out[sc][k] = (_geomean(v), _geomean(c))
    return out


def _ratios(runs: _Runs, reference: ReferenceConfig) -> dict[tuple[str, str], SeedRatios]:
    """Per (scenario, policy) and seed: (n_v, n_c), on the seeds the references finished."""
    eps = reference.violation_floor
    ref_values = _reference_values(runs, reference)
    out: dict[tuple[str, str], SeedRatios] = {}
    for sc in runs.scenarios:
        for pol in runs.policies:
            cell = {}
            for k, r in runs.ok_by_seed(sc, pol).items():
                if k not in ref_values[sc]:
                    continue
                v_ref, c_ref = ref_values[sc][k]
                n_v = ((_value(r, "slo_violation_rate", "kpis") or 0.0) + eps) / v_ref
                n_c = max(_value(r, reference.cost, "kpis") or 0.0, 1e-12) / c_ref
                cell[k] = (n_v, n_c)
            out[(sc, pol)] = cell
    return out


def _score(ratios: tuple[float, float], w: float) -> float:
    n_v, n_c = ratios
    return n_v**w * n_c ** (1 - w)


def _kpi_row(policy: str, cells: list[RunRecord]) -> Row:
    """A row with the run counts, flags, errors and per-KPI means of ``cells`` (no score yet)."""
    ok = [r for r in cells if r.ok]
    failed = [r for r in cells if not r.ok]
    row = Row(policy=policy, runs_ok=len(ok), runs_failed=len(failed))
    row.privileged = any(r.privileged for r in ok)
    row.trace_fallback = any(r.trace_fallback for r in ok)
    row.errors = sorted({str(r.error) for r in failed if r.error is not None})
    row.kpis = {
        name: mean_ci(_value(r, name, where) for r in ok)
        for name, _, where in KPI_COLUMNS + VARIANT_KPI_COLUMNS
    }
    return row


def _scenario_table(
    runs: _Runs,
    scenario: str,
    ratios: dict[tuple[str, str], SeedRatios],
    reference: ReferenceConfig,
    target: float,
) -> list[Row]:
    """The ranked rows of one scenario: KPIs, target, frontier and score over seeds."""
    w = reference.violation_weight
    rows = []
    for pol in runs.policies:
        cells = runs.cells.get((scenario, pol), [])
        if not cells:
            continue
        row = _kpi_row(pol, cells)
        cell = ratios.get((scenario, pol), {})
        row.score = mean_ci(_score(cell[k], w) for k in sorted(cell))
        row.violation_ratio = mean_ci(cell[k][0] for k in sorted(cell))
        row.cost_ratio = mean_ci(cell[k][1] for k in sorted(cell))
        _set_target(row, target)
        rows.append(row)
    _mark_frontier(rows, reference.cost)
    return _rank(rows, {r.policy: r.kpis[reference.cost].mean for r in rows})


def _overall_row(
    runs: _Runs,
    policy: str,
    tables: Mapping[str, list[Row]],
    ratios: dict[tuple[str, str], SeedRatios],
    w: float,
    target: float,
) -> Row | None:
    """A policy over the scenarios it ran (None when it has no run).

    It meets the target when it meets it on each of those scenarios; its score and ratios are
    per-seed geometric means over them.
    """
    cells = [r for sc in runs.scenarios for r in runs.cells.get((sc, policy), [])]
    if not cells:
        return None
    row = _kpi_row(policy, cells)
    mine = [x for sc in runs.scenarios for x in tables[sc] if x.policy == policy]
    row.scenarios = sum(1 for x in mine if x.runs_ok)
    row.scenarios_total = len(runs.scenarios)
    if any(x.met is not None for x in mine):
        row.met = all(x.met for x in mine)
    # Overall KPI columns: the mean over scenarios of the per-scenario means. Scenarios are not
    # samples of one population, so no interval is given (n counts scenarios).
    for name in row.kpis:
        per_sc = [
            next((x.kpis[name].mean for x in tables[sc] if x.policy == policy), None)
            for sc in runs.scenarios
        ]
        pooled = mean_ci(per_sc)
        row.kpis[name] = Stat(pooled.mean, None, pooled.n)
    attainment = row.kpis["slo_attainment"].mean
    row.margin = None if attainment is None else attainment - target
    ran = [sc for sc in runs.scenarios if ratios.get((sc, policy))]
    seed_sets = [set(ratios[(sc, policy)]) for sc in ran]
    seeds = set.intersection(*seed_sets) if seed_sets else set()
    per_seed = [[ratios[(sc, policy)][k] for sc in ran] for k in sorted(seeds)]
    row.score = mean_ci(_geomean([_score(x, w) for x in cells_k]) for cells_k in per_seed)
    row.violation_ratio = mean_ci(_geomean([x[0] for x in cells_k]) for cells_k in per_seed)
    row.cost_ratio = mean_ci(_geomean([x[1] for x in cells_k]) for cells_k in per_seed)
    return row


def build_leaderboard(
    records: Iterable[RunRecord],
    reference: ReferenceConfig,
    *,
    suite: str = "",
    scenarios: Sequence[str] | None = None,
    policies: Sequence[str] | None = None,
    notes: Sequence[str] = (),
    slo_target: float = DEFAULT_SLO_TARGET,
    skipped: Sequence[SkippedRun] = (),
) -> Leaderboard:
    """Aggregate records (one per run; pass the latest per key) into ranked tables.

    Args:
        records: Run records (``status`` ok or failed).
        reference: The reference policies and score weights.
        suite: Suite name for the title.
        scenarios: Scenario labels in display order (default: order of appearance).
        policies: Policy labels to include (default: all in the records).
        notes: Extra lines for the footnotes.
        slo_target: SLO-attainment target of the ranking, in (0, 1].
        skipped: Cells the suite left out (a note per reason says which and why).
    """
    runs = _group_runs(records, scenarios, policies)
    ratios = _ratios(runs, reference)
    w = reference.violation_weight
    tables = {sc: _scenario_table(runs, sc, ratios, reference, slo_target) for sc in runs.scenarios}
    overall = [
        row
        for pol in runs.policies
        if (row := _overall_row(runs, pol, tables, ratios, w, slo_target)) is not None
    ]
    return Leaderboard(
        suite=suite,
        reference=reference,
        slo_target=slo_target,
        overall=_rank(overall, {r.policy: r.cost_ratio.mean for r in overall}),
        scenarios=tables,
        fallback_scenarios=[
            sc for sc in runs.scenarios if any(r.trace_fallback for r in tables[sc])
        ],
        notes=list(notes) + _skipped_notes(skipped),
    )


def _skipped_notes(skipped: Sequence[SkippedRun]) -> list[str]:
    """One line per (scenario, reason): the policies left out of it."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for cell in skipped:
        groups[(cell.scenario, cell.reason)].append(cell.policy)
    return [
        f"Not run on {sc} ({reason}): {', '.join(pols)}; ranked on the other scenarios."
        for (sc, reason), pols in groups.items()
    ]


# --------------------------------------------------------------------------- formatting
# Fractions in [0, 1] are easier to compare with fixed decimals.
_FIXED = {"slo_violation_rate": 4, "late_or_dropped_fraction": 4, "slo_attainment": 4}


def _decimals(x: float, digits: int) -> int:
    """Decimals that show ``digits`` significant digits of ``x`` (at most 6, at least 0)."""
    if x == 0 or not math.isfinite(x):
        return digits - 1
    return int(min(6, max(0, digits - 1 - math.floor(math.log10(abs(x))))))


def _fmt(x: float | None, digits: int = 3, decimals: int | None = None) -> str:
    if x is None:
        return "n/a"
    if x != 0 and abs(x) >= 1e6:
        return f"{x:.{digits}g}"
    d = _decimals(x, digits) if decimals is None else decimals
    text = f"{x:.{d}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def _fmt_stat(stat: Stat, digits: int = 3, decimals: int | None = None) -> str:
    """``mean ± ci`` with the interval printed to the mean's precision (or fixed decimals)."""
    if stat.mean is None:
        return "n/a"
    if stat.ci95 is None:
        return _fmt(stat.mean, digits, decimals)
    d = decimals
    if d is None:
        d = _decimals(stat.mean, digits) if stat.mean != 0 else _decimals(stat.ci95, 2)
    return f"{_fmt(stat.mean, digits, d)} ± {_fmt(stat.ci95, digits, d)}"


def _policy_cell(row: Row) -> str:
    marks = []
    if row.privileged:
        marks.append("†")
    if row.trace_fallback:
        marks.append("‡")
    name = row.policy + "".join(marks)
    if row.runs_failed:
        name += f" ({row.runs_failed} failed)"
    return name


def _target_cell(row: Row) -> str:
    """``yes +0.0040`` / ``no −0.1200``: whether the row meets the target, and by how much."""
    if row.met is None or row.margin is None:
        return "n/a"
    sign = "+" if row.margin >= 0 else "−"
    return f"{'yes' if row.met else 'no'} {sign}{abs(row.margin):.4f}"


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |" for r in rows]
    return "\n".join(lines)


def overall_table(board: Leaderboard) -> tuple[list[str], list[list[str]]]:
    """Headings and formatted cells of the overall table (Markdown and HTML show the same)."""
    headers = [
        "rank",
        "policy",
        "target met (margin)",
        "SLO attainment",
        "cost ratio",
        "SLO violation",
        "score",
        "mean cores",
        "p99 [ms]",
        "decision [ms]",
        "scenarios",
        "runs",
    ]
    rows = [
        [
            str(r.rank) if r.rank is not None else "—",
            _policy_cell(r),
            _target_cell(r),
            _fmt(r.kpis["slo_attainment"].mean, decimals=4),
            _fmt_stat(r.cost_ratio),
            _fmt(r.kpis["slo_violation_rate"].mean, decimals=4),
            _fmt_stat(r.score),
            _fmt(r.kpis["mean_cores"].mean),
            _fmt(r.kpis["latency_p99_ms"].mean),
            _fmt(r.kpis["decision_ms_mean"].mean),
            f"{r.scenarios}/{r.scenarios_total}",
            f"{r.runs_ok}/{r.runs_ok + r.runs_failed}",
        ]
        for r in board.overall
    ]
    return headers, rows


def scenario_table(board: Leaderboard, scenario: str) -> tuple[list[str], list[list[str]]]:
    """Headings and formatted cells of one scenario's table (accuracy where runs have it)."""
    extra = tuple(
        c
        for c in VARIANT_KPI_COLUMNS
        if any(r.kpis[c[0]].mean is not None for r in board.scenarios[scenario])
    )
    columns = KPI_COLUMNS + extra
    headers = (
        ["rank", "policy", "target met (margin)", "frontier", "score"]
        + [h for _, h, _ in columns]
        + ["runs"]
    )
    rows = [
        [
            str(r.rank) if r.rank is not None else "—",
            _policy_cell(r),
            _target_cell(r),
            "●" if r.frontier else "",
            _fmt_stat(r.score),
        ]
        + [_fmt_stat(r.kpis[name], decimals=_FIXED.get(name)) for name, _, _ in columns]
        + [f"{r.runs_ok}/{r.runs_ok + r.runs_failed}"]
        for r in board.scenarios[scenario]
    ]
    return headers, rows


def footnotes(board: Leaderboard) -> list[str]:
    """The lines under the tables: marks, fallback traces, failures and the suite's notes."""
    foot = [
        "● on the scenario's cost–attainment frontier: no other ranked policy is both cheaper "
        "(or as cheap) and as good (or better) on attainment."
    ]
    if any(r.privileged for r in board.overall):
        foot.append("† privileged: sees the future trace; an upper bound, not ranked.")
    if board.fallback_scenarios:
        foot.append(
            "‡ the real trace file was absent, so these scenarios ran on their calibrated "
            "synthetic "
            f"fallback trace: {', '.join(board.fallback_scenarios)}."
        )
    failures = [(r.policy, e) for r in board.overall for e in r.errors]
    if failures:
        foot.append("Failed runs: " + "; ".join(f"{p}: {e}" for p, e in failures))
    return foot + list(board.notes)


def to_markdown(board: Leaderboard) -> str:
    """The leaderboard as Markdown: the overall ranking, then one table per scenario."""
    ref = board.reference
    out = [f"# Leaderboard: {board.suite}" if board.suite else "# Leaderboard", ""]
    out.append(
        f"Ranking: policies meeting the SLO-attainment target {board.slo_target} (fraction of "
        "requests completed within the SLO; a drop is a miss) come first, cheapest first; the "
        "others follow by attainment. Values are means over seeds ± the 95 % confidence "
        "half-width."
    )
    out.append("")
    out.append(
        f"Score (secondary, not the ranking): lower is better, 1.0 = the reference policies "
        f"({', '.join(ref.policies)}); violation weight w = {ref.violation_weight}, violation "
        f"floor ε = {ref.violation_floor}, cost KPI `{ref.cost}`."
    )
    out.append("")
    out.append("## Overall")
    out.append("")
    headers, rows = overall_table(board)
    out.append(_md_table(headers, rows))
    out.append("")
    out.append(
        "Overall: target met on every scenario the policy ran; cost ratio to the references "
        "(geometric mean over those scenarios). Overall KPI columns are means over scenarios of "
        "the per-scenario means."
    )
    for sc in board.scenarios:
        out.append("")
        title = f"## {sc}" + (
            " ‡ (synthetic fallback trace)" if sc in board.fallback_scenarios else ""
        )
        out.append(title)
        out.append("")
        headers, rows = scenario_table(board, sc)
        out.append(_md_table(headers, rows))
    foot = footnotes(board)
    out += ["", "## Notes", ""] + [f"- {line}" for line in foot]
    out.append("")
    return "\n".join(out)


def _csv_rows(board: Leaderboard) -> list[dict[str, Any]]:
    rows = []
    tables = [("ALL", board.overall)] + list(board.scenarios.items())
    for sc, table in tables:
        for r in table:
            row: dict[str, Any] = {
                "scenario": sc,
                "policy": r.policy,
                "rank": r.rank,
                "met_target": r.met,
                "margin": r.margin,
                "frontier": r.frontier,
                "score": r.score.mean,
                "score_ci95": r.score.ci95,
                "violation_ratio": r.violation_ratio.mean,
                "cost_ratio": r.cost_ratio.mean,
                "n_seeds": r.score.n,
                "runs_ok": r.runs_ok,
                "runs_failed": r.runs_failed,
                "privileged": r.privileged,
                "trace_fallback": r.trace_fallback,
            }
            for name, _, _ in KPI_COLUMNS:
                row[f"{name}_mean"] = r.kpis[name].mean
                row[f"{name}_ci95"] = r.kpis[name].ci95
            rows.append(row)
    return rows


def to_csv(board: Leaderboard) -> str:
    """The leaderboard as CSV: a row per (scenario, policy); scenario ``ALL`` is the overall one."""
    rows = _csv_rows(board)
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def to_json(board: Leaderboard) -> str:
    """The leaderboard as JSON, with the score's definition."""
    data = {
        "suite": board.suite,
        "ranking": {"definition": RANKING_DEFINITION, "slo_target": board.slo_target},
        "score": {
            "definition": SCORE_DEFINITION,
            "reference_policies": list(board.reference.policies),
            "violation_floor": board.reference.violation_floor,
            "violation_weight": board.reference.violation_weight,
            "cost_kpi": board.reference.cost,
        },
        "overall": [r.to_dict() for r in board.overall],
        "scenarios": {sc: [r.to_dict() for r in t] for sc, t in board.scenarios.items()},
        "fallback_scenarios": board.fallback_scenarios,
        "notes": board.notes,
    }
    return json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write a text file through a temporary file and a rename, so readers never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file 0600; results are as readable as the records (0644 by umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_leaderboard(board: Leaderboard, out_dir: str | Path) -> list[Path]:
    """Write ``leaderboard.md``, ``leaderboard.csv`` and ``leaderboard.json`` into ``out_dir``."""
    out = Path(out_dir)
    paths = []
    for name, text in (
        ("leaderboard.md", to_markdown(board)),
        ("leaderboard.csv", to_csv(board)),
        ("leaderboard.json", to_json(board)),
    ):
        write_atomic(out / name, text)
        paths.append(out / name)
    return paths
