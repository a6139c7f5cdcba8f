"""No agent scenario (training, validation, selection) reads a window a test suite scores on.

The agents' claims rest on this: ``generalisation`` is traces no agent trained on, and no
checkpoint was chosen on a window a suite scores. Two scenarios share data when they name the
same trace (a named trace whatever its scaling; a synthetic one by pattern and seed, whose
mean only rescales the same draw) and their windows (a fixed window, or a ``sample_range``
random windows come from) overlap. Without the real traces each scenario runs on its
``fallback_uri`` from second 0 (random windows from anywhere in it), and those must not meet
either.
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


def _span(spec: TraceSpec) -> tuple[float, float]:
    """The seconds of the trace a scenario may read: its random-window range or its window."""
    if spec.sample_range is not None:
        return float(spec.sample_range[0]), float(spec.sample_range[1])
    end = spec.start_s + spec.duration_s if spec.duration_s is not None else float("inf")
    return float(spec.start_s), float(end)


def _reads(spec: TraceSpec) -> list[tuple[str, tuple[float, float]]]:
    """What a scenario reads with the real traces, and without them (its fallback)."""
    out = [(_source(spec.uri), _span(spec))]
    if spec.fallback_uri is not None:
        random = spec.sample_range is not None or spec.duration_s is None
        length = float("inf") if random else float(spec.duration_s)
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


def _clashes(spec: TraceSpec) -> list[str]:
    """The suite scenarios that read data ``spec`` reads."""
    return sorted(
        {
            label
            for source, (lo, hi) in _reads(spec)
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


def test_a_suite_window_is_caught() -> None:
    spec = load_scenario("sentiment-2025-gen-twitter-d20").trace
    assert "generalisation/sentiment-2025-gen-twitter-d20" in _clashes(spec)
    later = TraceSpec(uri=spec.uri, start_s=spec.start_s + spec.duration_s, duration_s=60)
    assert not [c for c in _clashes(later) if c.endswith("-d20")]


@pytest.mark.parametrize("path", sorted(agent_scenarios_dir().glob("*.yaml")), ids=lambda p: p.stem)
def test_no_agent_scenario_reads_a_window_a_suite_scores(path) -> None:
    spec = load_scenario(path).trace
    assert not _clashes(spec), f"{path.name} reads data scored by {_clashes(spec)}"
