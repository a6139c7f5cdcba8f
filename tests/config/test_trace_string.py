"""A scenario's ``trace`` may be a plain URI string."""

from __future__ import annotations

import gymnasium as gym
import pytest

import themis_env  # noqa: F401 (registers the env ids)
from themis_env.config import load_scenario
from themis_env.errors import ConfigError


def test_gym_make_takes_a_trace_path_as_a_string(tmp_path):
    path = tmp_path / "load.csv"
    path.write_text("t,rps\n0,5\n1,6\n2,7\n", encoding="utf-8")
    env = gym.make("themis_env/InferenceCluster-v0", scenario="smoke-video", trace=str(path))
    try:
        # The string replaces the whole trace mapping: the preset's window and scaling are
        # not applied to a file they were not written for.
        spec = env.unwrapped.scenario.trace
        assert (spec.uri, spec.start_s, spec.divisor, spec.fallback_uri) == (
            str(path),
            0,
            None,
            None,
        )
        _, info = env.reset(seed=0)
        assert info["trace_uri"] == str(path)
        assert env.unwrapped.workload.rates.tolist() == [5, 6, 7]
    finally:
        env.close()


def test_a_yaml_trace_string_is_the_uri():
    scenario = load_scenario("smoke-video", {"trace": "synthetic:steady?seed=0&duration=60"})
    assert scenario.trace.uri == "synthetic:steady?seed=0&duration=60"
    assert load_scenario("smoke-video", {"trace": {"uri": "x.csv"}}).trace.uri == "x.csv"


@pytest.mark.parametrize("value", [3, ["x.csv"], True])
def test_other_trace_values_say_what_is_allowed(value):
    with pytest.raises(
        ConfigError,
        match=r"key 'trace' must be a mapping with keys from \[.*'uri'.*\] or a string \(the uri\)",
    ):
        load_scenario("smoke-video", {"trace": value})
