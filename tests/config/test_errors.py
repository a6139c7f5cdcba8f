"""Strict configuration: every bad file or override fails at load time with a precise message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from themis_env.config import load_pipeline, load_scenario, scenario_data
from themis_env.errors import ConfigError, ScenarioNotFound


def write_scenario(tmp_path: Path, **changes) -> Path:
    """A copy of the shipped video-arxiv-bursty scenario with ``changes`` applied."""
    _, data = scenario_data("video-arxiv-bursty")
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not _DROP}
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


_DROP = object()


def error_of(tmp_path: Path, **changes) -> str:
    path = write_scenario(tmp_path, **changes)
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    message = str(err.value)
    assert str(path) in message  # every message names the file
    return message


def test_a_valid_copy_loads(tmp_path):
    assert load_scenario(write_scenario(tmp_path)).name == "video-arxiv-bursty"


def test_unknown_top_level_key_names_it_suggests_and_lists_the_allowed(tmp_path):
    message = error_of(tmp_path, episode_seconds=60)
    assert "unknown key 'episode_seconds'" in message
    assert "Did you mean 'episode_s'" in message
    assert "'decision_interval_s'" in message  # the allowed keys are listed


def test_unknown_nested_key_gives_its_dotted_path(tmp_path):
    message = error_of(tmp_path, cluster={"nodes": 2, "cores_per_nod": 16})
    assert "unknown key 'cluster.cores_per_nod'" in message
    assert "Did you mean 'cores_per_node'" in message


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"cluster": {"nodes": "two"}}, ["key 'cluster.nodes' = 'two'", "whole number"]),
        ({"episode_s": 1.5}, ["key 'episode_s' = 1.5", "whole number"]),
        ({"history_s": True}, ["key 'history_s' = True", "whole number"]),
        ({"decision_interval_s": "1s"}, ["key 'decision_interval_s' = '1s'", "must be a number"]),
        ({"tags": "paper"}, ["key 'tags' = 'paper'", "must be a list"]),
        ({"reward": [1, 0.2]}, ["key 'reward'", "must be a mapping"]),
        ({"pipeline": 3}, ["key 'pipeline' = 3", "must be a string"]),
        ({"trace": {"uri": "x", "sample_range": [1]}}, ["'trace.sample_range'", "exactly 2"]),
        ({"reward": {"w_slo": float("nan")}}, ["'reward.w_slo' = nan", "finite number"]),
    ],
)
def test_wrong_types_name_key_value_and_expected_type(tmp_path, changes, fragments):
    message = error_of(tmp_path, **changes)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"cluster": {"nodes": 0}}, ["'cluster.nodes' = 0 is not allowed", ">= 1"]),
        ({"reward": {"w_cost": -0.1}}, ["'reward.w_cost' = -0.1 is not allowed", ">= 0"]),
        ({"decision_interval_s": 0}, ["'decision_interval_s' = 0.0 is not allowed", "> 0"]),
        ({"decision_interval_s": 0.3}, ["'decision_interval_s' = 0.3", "1/k of a second"]),
        (
            {"decision_interval_s": 10, "episode_s": 25},
            ["'decision_interval_s' = 10 does not divide 'episode_s' = 25", "e.g. 20 or 30"],
        ),
        (
            {"decision_interval_s": 10, "episode_s": 5},
            ["'decision_interval_s' = 10 exceeds 'episode_s' = 5"],
        ),
        ({"history_s": 601}, ["'history_s' = 601 is not allowed", "<= 600"]),
        ({"initial": [{"replicas": 0}]}, ["'initial[0].replicas' = 0", ">= 1"]),
        ({"cost": "core"}, ["'cost' = 'core' is not allowed", "'memory-equivalent'", "'cores'?"]),
        (
            {"cluster": {"cold_start": {"min_s": 30, "max_s": 20}}},
            ["'cluster.cold_start'", "min_s (30.0) must be <= max_s (20.0)"],
        ),
        (
            {"cluster": {"cold_start": {"distribution": "normal"}}},
            ["'cluster.cold_start.distribution' = 'normal'", "'lognormal'"],
        ),
    ],
)
def test_impossible_values_name_key_value_and_what_is_allowed(tmp_path, changes, fragments):
    message = error_of(tmp_path, **changes)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_missing_required_key(tmp_path):
    message = error_of(tmp_path, pipeline=_DROP)
    assert "missing required key 'pipeline'" in message


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\npipeline: [unclosed\ntrace: {uri: a}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: line \d+, column \d+ is not valid YAML"):
        load_scenario(path)


def test_a_file_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must hold a mapping of keys, got list"):
        load_scenario(path)


def test_unknown_scenario_name_suggests_and_lists_the_shipped_ones():
    with pytest.raises(ScenarioNotFound) as err:
        load_scenario("video-arxiv-burst")
    message = str(err.value)
    assert "unknown scenario 'video-arxiv-burst'" in message
    assert "Did you mean 'video-arxiv-bursty'" in message
    assert "smoke-video" in message  # the known scenarios are listed
    assert isinstance(err.value, KeyError) and isinstance(err.value, ConfigError)


def test_a_missing_yaml_path_is_not_found():
    with pytest.raises(ScenarioNotFound, match=r"scenario file 'nowhere/x\.yaml' does not exist"):
        load_scenario("nowhere/x.yaml")


def test_overrides_are_checked_and_named_as_overrides():
    with pytest.raises(ConfigError) as err:
        load_scenario("smoke-video", {"cluster": {"nodez": 1}})
    assert "(with overrides)" in str(err.value) and "'cluster.nodez'" in str(err.value)


def test_overrides_deep_merge_keeping_nested_siblings():
    overrides = {"cluster": {"nodes": 5}, "reward": {"w_cost": 1}}
    scenario = load_scenario("video-arxiv-bursty", overrides)
    assert scenario.cluster.nodes == 5
    assert scenario.cluster.cores_per_node == 16  # sibling kept
    assert scenario.cluster.cold_start.median_s == 8.0
    assert scenario.reward.w_cost == 1.0 and scenario.reward.w_slo == 1.0


def test_pipeline_errors_name_the_stage(tmp_path):
    path = tmp_path / "pipe.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "p",
                "slo_ms": 100,
                "stages": [{"name": "a", "model": "themis-arxiv/no-such-model"}],
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"key 'stages\[0\]\.model'.*unknown model"):
        load_pipeline(path)
    path.write_text(
        yaml.safe_dump(
            {
                "name": "p",
                "slo_ms": 100,
                "stages": [
                    {"name": "a", "model": "themis-arxiv/resnet18"},
                    {"name": "a", "model": "themis-arxiv/resnet18"},
                ],
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="stage names must be unique"):
        load_pipeline(path)


def test_initial_with_the_wrong_number_of_stages_fails_in_the_env():
    from themis_env.envs import InferenceClusterEnv

    with pytest.raises(ConfigError, match=r"'initial' has 3 entries; give 1 .* or 2"):
        InferenceClusterEnv(initial=[{"replicas": 1}] * 3)
    with pytest.raises(ConfigError, match=r"'initial\[1\]\.cores' = 9 is outside .*\[1, 8\]"):
        InferenceClusterEnv(initial=[{"replicas": 1}, {"cores": 9}])
