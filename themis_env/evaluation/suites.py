"""Evaluation suites: which scenarios, seeds and policies a leaderboard runs.

A suite is a YAML file in ``configs/suites/`` (or any path)::

    name: smoke
    description: Two short scenarios, two seeds.
    scenarios:
      - smoke-video                                 # a shipped scenario name or a YAML path
      - {scenario: video-arxiv-steady, label: steady-60s, overrides: {episode_s: 60}}
    seeds: 2                                        # 0..n-1, or an explicit list [0, 7, 42]
    overrides: {episode_s: 120}                     # deep-merged into every scenario
    policies:
      - themis
      - {name: hpa, params: {target_utilisation: 0.6}, label: hpa-60}
      - {name: "agent:agents/zoo/ppo/ppo.zip", label: ppo, obs_mode: flat}
    slo_target: 0.99                                # SLO attainment a policy must reach
    reference: {policies: [hpa, vpa], violation_floor: 0.01, violation_weight: 0.5}
    notes: [free text shown under the leaderboard]

Loading is strict: unknown keys, wrong types, unknown scenarios or policies, duplicate labels
and reference policies missing from ``policies`` fail with the file, the key and what is
allowed. Every scenario is also loaded with its overrides, so a bad override fails here and not
halfway through a leaderboard.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from themis_env.config import available, build, deep_merge, load_scenario, load_yaml, resolve
from themis_env.errors import ConfigError, PolicyError, ThemisError, did_you_mean
from themis_env.evaluation.policies import agent_mismatches, env_modes, validate_policy_ref
from themis_env.evaluation.records import canonical_json
from themis_env.evaluation.runner import RunSpec

__all__ = [
    "DEFAULT_SLO_TARGET",
    "PolicyEntry",
    "ReferenceConfig",
    "ScenarioEntry",
    "SkippedRun",
    "SuiteConfig",
    "check_slo_target",
    "load_suite",
    "suite_names",
    "suite_plan",
    "suite_runs",
    "select_policies",
]


DEFAULT_SLO_TARGET = 0.99
"""SLO attainment (fraction of requests within the SLO) a policy must reach to rank by cost."""


def check_slo_target(value: object, where: str) -> float:
    """``value`` as an SLO-attainment target in (0, 1].

    Raises:
        ConfigError: naming ``where`` and the allowed range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigError(
            f"{where} = {value!r}: an SLO-attainment target is a fraction in (0, 1], e.g. 0.99"
        )
    return float(value)


@dataclass(frozen=True)
class PolicyEntry:
    """One policy of a suite.

    Attributes:
        name: Registered name, ``module:Class`` or ``agent:PATH.zip``.
        params: Keyword parameters of the policy.
        label: Name in tables (default: ``name``); must be unique in the suite.
        action_mode: Action mode of the env it runs in; None: ``target`` for baselines, the
            training mode for learned agents.
        obs_mode: Observation mode of the env it runs in; None: ``dict`` for baselines, the
            training mode for learned agents.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    action_mode: Literal["target", "delta", "continuous"] | None = None
    obs_mode: Literal["dict", "flat"] | None = None

    @property
    def display(self) -> str:
        """The label shown in tables."""
        return self.label or self.name


@dataclass(frozen=True)
class ScenarioEntry:
    """One scenario of a suite.

    Attributes:
        scenario: Shipped scenario name or YAML path.
        label: Name in tables (default: ``scenario``); must be unique in the suite.
        overrides: Deep-merged into the scenario, after the suite-wide overrides.
    """

    scenario: str
    label: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def display(self) -> str:
        """The label shown in tables."""
        return self.label or self.scenario


@dataclass(frozen=True)
class ReferenceConfig:
    """How the normalised score is computed (see :mod:`themis_env.evaluation.leaderboard`).

    Attributes:
        policies: Labels of the reference policies; a score of 1.0 means "as good as their
            geometric mean".
        violation_floor: Added to every SLO violation rate before taking ratios, so near-zero
            rates do not make ratios explode.
        violation_weight: Weight w of the violation ratio; the cost ratio gets 1 − w.
        cost: The cost KPI compared.
    """

    policies: tuple[str, ...] = ("hpa", "vpa")
    violation_floor: float = 0.01
    violation_weight: float = 0.5
    cost: Literal["cost", "cost_core_seconds", "mean_cores", "cost_memory_equivalent"] = "cost"

    def __post_init__(self) -> None:
        if not self.policies:
            raise ValueError("'reference.policies' must name at least one policy")
        if not 0.0 <= self.violation_weight <= 1.0:
            raise ValueError(
                f"'reference.violation_weight' = {self.violation_weight} must be in [0, 1]"
            )
        if self.violation_floor <= 0:
            raise ValueError(f"'reference.violation_floor' = {self.violation_floor} must be > 0")


@dataclass(frozen=True)
class SuiteConfig:
    """A leaderboard suite.

    Attributes:
        name: Suite name (part of every run key).
        scenarios: The scenarios.
        seeds: The seeds each (scenario, policy) runs with.
        policies: The default policies.
        reference: Reference policies and weights of the normalised score.
        slo_target: SLO attainment a policy must reach to be ranked by cost (the headline).
        overrides: Deep-merged into every scenario (episode length, ...).
        description: Free text.
        notes: Shown under the leaderboard tables.
        source: The file the suite came from.
    """

    name: str
    scenarios: tuple[ScenarioEntry, ...]
    seeds: tuple[int, ...]
    policies: tuple[PolicyEntry, ...]
    reference: ReferenceConfig = ReferenceConfig()
    slo_target: float = DEFAULT_SLO_TARGET
    overrides: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    notes: tuple[str, ...] = ()
    source: str = ""


def suite_names() -> list[str]:
    """Names of the shipped suites."""
    return available("suites")


def _normalise(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Expand the shorthands (plain strings for scenarios and policies, a count for seeds)."""
    out = dict(data)
    for key, field_name in (("scenarios", "scenario"), ("policies", "name")):
        items = out.get(key)
        if isinstance(items, list):
            out[key] = [{field_name: item} if isinstance(item, str) else item for item in items]
    seeds = out.get("seeds")
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError(
                f"{source}: key 'seeds' = {seeds} must be ≥ 1 (a count) or a list of seeds"
            )
        out["seeds"] = list(range(seeds))
    reference = out.get("reference")
    if isinstance(reference, str):
        out["reference"] = {"policies": [reference]}
    return out


def _check(suite: SuiteConfig) -> None:
    source = suite.source
    if not suite.scenarios:
        raise ConfigError(f"{source}: key 'scenarios' must list at least one scenario")
    if not suite.policies:
        raise ConfigError(f"{source}: key 'policies' must list at least one policy")
    if not suite.seeds:
        raise ConfigError(f"{source}: key 'seeds' must hold at least one seed")
    if len(set(suite.seeds)) != len(suite.seeds) or any(s < 0 for s in suite.seeds):
        raise ConfigError(
            f"{source}: key 'seeds' = {list(suite.seeds)} must be distinct non-negative integers"
        )
    check_slo_target(suite.slo_target, f"{source}: key 'slo_target'")
    for what, labels in (
        ("scenarios", [s.display for s in suite.scenarios]),
        ("policies", [p.display for p in suite.policies]),
    ):
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ConfigError(
                f"{source}: key '{what}' has duplicate labels {dupes}; give each a distinct 'label'"
            )
    for i, policy in enumerate(suite.policies):
        try:
            validate_policy_ref(policy.name)
        except PolicyError as exc:
            raise ConfigError(f"{source}: key 'policies[{i}].name': {exc}") from exc
    labels = [p.display for p in suite.policies]
    for ref in suite.reference.policies:
        if ref not in labels:
            raise ConfigError(
                f"{source}: key 'reference.policies' names {ref!r}, which is not in 'policies'."
                f"{did_you_mean(ref, labels)} Policies: {labels}"
            )
    for i, entry in enumerate(suite.scenarios):
        try:
            resolve("scenarios", entry.scenario)
            load_scenario(entry.scenario, scenario_overrides(suite, entry) or None)
        except ThemisError as exc:
            raise ConfigError(f"{source}: key 'scenarios[{i}]' ({entry.display}): {exc}") from exc


def load_suite(ref: str | Path) -> SuiteConfig:
    """Load and check a suite by shipped name or path.

    Raises:
        ScenarioNotFound: for an unknown suite name (with the known ones).
        ConfigError: for anything wrong inside the file, naming the file and key.
    """
    path = resolve("suites", ref)
    data = load_yaml(path)
    source = str(path)
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: the file must hold a mapping of keys, got {type(data).__name__}"
        )
    if "source" in data:
        raise ConfigError(f"{source}: unknown key 'source' (it is set from the file's path)")
    suite = build(SuiteConfig, _normalise(data, source), source)
    suite = replace(suite, source=source)
    _check(suite)
    return suite


def select_policies(
    suite: SuiteConfig, names: Sequence[str] | None
) -> tuple[list[PolicyEntry], list[str]]:
    """The policies to run: the suite's, or the named ones plus the reference policies.

    A name that matches a suite policy's label takes that entry (with its params); any other
    name is a new entry. The reference policies are added when missing, since the score needs
    them; the second result lists those added.

    Raises:
        PolicyError: for a name that is neither a suite label nor a resolvable policy, or for
            the same policy and params chosen twice under two labels (their runs would share
            one run key, so one label's records would stand for both).
    """
    if not names:
        return _one_label_each(list(suite.policies)), []
    by_label = {p.display: p for p in suite.policies}
    chosen: list[PolicyEntry] = []
    for name in names:
        entry = by_label.get(name)
        if entry is None:
            validate_policy_ref(name)
            entry = PolicyEntry(name=name)
        if entry.display not in [p.display for p in chosen]:
            chosen.append(entry)
    added = []
    for ref in suite.reference.policies:
        if ref not in [p.display for p in chosen]:
            chosen.append(by_label[ref])
            added.append(ref)
    return _one_label_each(chosen), added


def _one_label_each(chosen: list[PolicyEntry]) -> list[PolicyEntry]:
    """``chosen``, refused when one policy and params appear under two labels (one run key)."""
    seen: dict[str, str] = {}
    for p in chosen:
        same = seen.setdefault(canonical_json([p.name, p.params]), p.display)
        if same != p.display:
            raise PolicyError(
                f"policies {same!r} and {p.display!r} are the same policy ({p.name!r} with the "
                "same params): choose one label"
            )
    return chosen


def shipped_policy(label: str) -> PolicyEntry | None:
    """The policy the shipped suites show as ``label`` (``ppo`` is an agent's zip), or None.

    None too when the shipped suites give the label to different policies.
    """
    found: dict[tuple[str, str], PolicyEntry] = {}
    for name in available("suites"):
        try:
            suite = load_suite(name)
        except ThemisError:  # a suite that cannot load here (a missing extra) names nothing
            continue
        for entry in suite.policies:
            if entry.display == label and entry.name != label:
                found[(entry.name, repr(sorted(entry.params.items())))] = entry
    return next(iter(found.values())) if len(found) == 1 else None


def scenario_overrides(suite: SuiteConfig, entry: ScenarioEntry) -> dict[str, Any]:
    """The suite-wide overrides with the scenario's own merged on top."""
    return (
        deep_merge(suite.overrides, entry.overrides) if entry.overrides else dict(suite.overrides)
    )


@dataclass(frozen=True)
class SkippedRun:
    """A (scenario, policy) cell a suite leaves out, and why (an agent that cannot act there).

    Attributes:
        scenario: Scenario label.
        policy: Policy label.
        reason: The first mismatch, one short line.
    """

    scenario: str
    policy: str
    reason: str


def suite_plan(
    suite: SuiteConfig,
    policies: Sequence[PolicyEntry] | None = None,
    seeds: Sequence[int] | None = None,
    extra_overrides: Mapping[str, Any] | None = None,
    timeline: bool = True,
) -> tuple[list[RunSpec], list[SkippedRun]]:
    """Every run of the suite (scenarios × policies × seeds, in that order) and the cells left out.

    A learned agent runs only on the scenarios whose pipeline, limits and observation layout it
    was trained for; each other scenario is a :class:`SkippedRun` naming the reason, which the
    leaderboard shows once in its notes.
    """
    runs = []
    skipped = []
    for entry in suite.scenarios:
        overrides = scenario_overrides(suite, entry)
        if extra_overrides:
            overrides = deep_merge(overrides, extra_overrides)
        for policy in policies if policies is not None else suite.policies:
            action_mode, obs_mode = env_modes(policy.name, policy.action_mode, policy.obs_mode)
            unfit = agent_mismatches(policy.name, entry.scenario, overrides, action_mode, obs_mode)
            if unfit:
                skipped.append(SkippedRun(entry.display, policy.display, unfit[0]))
                continue
            for seed in seeds if seeds is not None else suite.seeds:
                runs.append(
                    RunSpec(
                        scenario=entry.scenario,
                        seed=int(seed),
                        policy=policy.name,
                        params=dict(policy.params),
                        overrides=overrides,
                        policy_label=policy.display,
                        scenario_label=entry.display,
                        suite=suite.name,
                        action_mode=action_mode,
                        obs_mode=obs_mode,
                        timeline=timeline,
                    )
                )
    return runs, skipped


def suite_runs(
    suite: SuiteConfig,
    policies: Sequence[PolicyEntry] | None = None,
    seeds: Sequence[int] | None = None,
    extra_overrides: Mapping[str, Any] | None = None,
    timeline: bool = True,
) -> list[RunSpec]:
    """The runs of :func:`suite_plan`; each cell left out is a warning naming the reason."""
    runs, skipped = suite_plan(suite, policies, seeds, extra_overrides, timeline)
    for cell in skipped:
        warnings.warn(
            f"suite {suite.name!r}: {cell.policy} does not run on {cell.scenario} ({cell.reason})",
            stacklevel=2,
        )
    return runs
