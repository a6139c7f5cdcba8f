"""No agent scenario (training, validation, selection) reads a window a test suite scores on.

The agents' claims rest on this: ``generalisation`` is traces no agent trained on, and no
checkpoint was chosen on a window a suite scores. Two scenarios share data when they name the
same trace (a named trace whatever its scaling; a synthetic one by pattern and seed, whose
mean only rescales the same draw) and their windows (a fixed window, or a ``sample_range``
random windows come from) overlap. A training scenario is played on random windows
(``RandomWindowReset``), so without a ``sample_range`` it reads the whole trace. Without the
real traces each scenario runs on its ``fallback_uri`` from second 0 (random windows from
anywhere in it), and those must not meet either.
"""

from __future__ import annotations

import functools
from urllib.parse import parse_qs, urlsplit

import pytest
from themis_env.agents.envs import agent_scenarios_dir

from themis_env.config.loader import load_scenario
from themis_env.config.schema import TraceSpec
from themis_env.evaluation.suites import load_suite, scenario_overrides

SCORED_SUITES = ("paper", "generalisation", "variants")


def _source(uri: str) -> str:
    """Which data a URI reads: the named trace, or a synthetic pattern and its seed."""
    if uri.startswith("synthetic:"):
        parts = urlsplit(uri)
        seed = parse_qs(parts.query).get("seed", ["0"])[0]
        return f"{parts.path}#seed={seed}"
    return uri.split("?", 1)[0]


def _span(spec: TraceSpec, random: bool = False) -> tuple[float, float]:
    """The seconds of the trace a scenario may read: its random-window range or its window.

    ``random``: it is played on random windows, which without a ``sample_range`` come from
    anywhere in the trace.
    """
    if spec.sample_range is not None:
        return float(spec.sample_range[0]), float(spec.sample_range[1])
    if random:
        return 0.0, float("inf")
    if spec.duration_s is None:
        return float(spec.start_s), float("inf")
    return float(spec.start_s), float(spec.start_s + spec.duration_s)


def _reads(spec: TraceSpec, random: bool = False) -> list[tuple[str, tuple[float, float]]]:
    """What a scenario reads with the real traces, and without them (its fallback)."""
    out = [(_source(spec.uri), _span(spec, random))]
    if spec.fallback_uri is not None:
        anywhere = random or spec.sample_range is not None or spec.duration_s is None
        length = float("inf") if anywhere else float(spec.duration_s)
        out.append((_source(spec.fallback_uri), (0.0, length)))
    return out


@functools.cache
def _scored() -> tuple[tuple[str, str, tuple[float, float]], ...]:
    out: list[tuple[str, str, tuple[float, float]]] = []
    for name in SCORED_SUITES:
        suite = load_suite(name)
        for entry in suite.scenarios:
            spec = load_scenario(entry.scenario, scenario_overrides(suite, entry)).trace
            out += [(f"{name}/{entry.display}", *read) for read in _reads(spec)]
    return tuple(out)


def _clashes(spec: TraceSpec, random: bool = False) -> list[str]:
    """The suite scenarios that read data ``spec`` reads (on random windows if ``random``)."""
    return sorted(
        {
            label
            for source, (lo, hi) in _reads(spec, random)
            for label, scored, (a, b) in _scored()
            if scored == source and lo < b and a < hi
        }
    )


def test_source_and_span_tell_traces_and_windows_apart() -> None:
    assert _source("twitter-2021-08?damping=8") == _source("twitter-2021-08")
    assert _source("synthetic:spike?seed=1&mean=108") == _source("synthetic:spike?seed=1&mean=144")
    assert _source("synthetic:spike?seed=1") != _source("synthetic:spike?seed=2")
    assert _span(TraceSpec(uri="x", start_s=10, duration_s=5)) == (10.0, 15.0)
    assert _span(TraceSpec(uri="x", start_s=10, sample_range=(0, 100))) == (0.0, 100.0)
    assert _span(TraceSpec(uri="x", start_s=10, duration_s=5), random=True) == (0.0, float("inf"))


def test_a_suite_window_is_caught() -> None:
    spec = load_scenario("sentiment-2025-gen-twitter-d20").trace
    assert "generalisation/sentiment-2025-gen-twitter-d20" in _clashes(spec)
    later = TraceSpec(uri=spec.uri, start_s=spec.start_s + spec.duration_s, duration_s=60)
    assert not [c for c in _clashes(later) if c.endswith("-d20")]
    assert "generalisation/sentiment-2025-gen-twitter-d20" in _clashes(later, random=True)


@pytest.mark.parametrize("path", sorted(agent_scenarios_dir().glob("*.yaml")), ids=lambda p: p.stem)
def test_no_agent_scenario_reads_a_window_a_suite_scores(path) -> None:
    scenario = load_scenario(path)
    clashes = _clashes(scenario.trace, random="training" in scenario.tags)
    assert not clashes, f"{path.name} reads data scored by {clashes}"
