from __future__ import annotations

from pathlib import Path

import pytest

from tests.evaluation.conftest import write_suite
from tests.evaluation.helpers import HOLD, REACTIVE
from themis_env.errors import ConfigError, PolicyError, ScenarioNotFound
from themis_env.evaluation.suites import load_suite, select_policies, suite_names, suite_runs


@pytest.mark.parametrize("name", ["smoke", "paper", "ipa-patterns", "stress"])
def test_shipped_suites_load(name: str) -> None:
    assert name in suite_names()
    suite = load_suite(name)
    assert suite.name == name
    labels = [p.display for p in suite.policies]
    assert set(suite.reference.policies) <= set(labels)


def test_paper_suite_is_the_themis_setting() -> None:
    suite = load_suite("paper")
    assert [s.scenario for s in suite.scenarios] == [
        f"{p}-{preset}-twitter"
        for preset in ("arxiv", "2025")
        for p in ("video", "sentiment", "nlp")
    ]


def test_tiny_suite_expands_to_runs(tiny_suite: Path) -> None:
    suite = load_suite(tiny_suite)
    assert suite.seeds == (0, 1)
    runs = suite_runs(suite)
    assert len(runs) == 2 * 2 * 2
    assert {r.scenario_name for r in runs} == {"video-20s", "video-15s"}
    assert {r.overrides["episode_s"] for r in runs} == {20, 15}  # scenario overrides win
    assert all(r.suite == "tiny" for r in runs)


def test_agents_run_only_where_they_fit(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    path = write_suite(
        tmp_path / "agent.yaml",
        scenarios=["smoke-video", "sentiment-arxiv-fluctuating"],
        policies=[
            {"name": HOLD, "label": "hold"},
            {"name": "agent:agents/zoo/ppo-video-arxiv/ppo.zip", "label": "ppo"},
        ],
    )
    with pytest.warns(UserWarning, match=r"ppo does not run on sentiment-arxiv-fluctuating.*video"):
        runs = suite_runs(load_suite(path))
    pairs = {(r.scenario_name, r.policy_name) for r in runs}
    assert pairs == {
        ("smoke-video", "hold"),
        ("smoke-video", "ppo"),
        ("sentiment-arxiv-fluctuating", "hold"),
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seedz": 2}, r"unknown key 'seedz'.*Did you mean 'seeds'"),
        (
            {"policies": [{"name": HOLD, "parms": {}}]},
            r"unknown key 'policies\[0\]\.parms'.*'params'",
        ),
        ({"reference": {"policies": ["hold"], "floor": 0.1}}, r"unknown key 'reference\.floor'"),
        (
            {"scenarios": ["smoke-vidoe"]},
            r"scenarios\[0\].*unknown scenario 'smoke-vidoe'.*smoke-video",
        ),
        ({"policies": ["hpaa"]}, r"policies\[0\]\.name.*unknown policy 'hpaa'"),
        (
            {"reference": {"policies": ["hpa"]}},
            r"reference\.policies' names 'hpa', which is not in 'policies'",
        ),
        ({"policies": [HOLD, {"name": REACTIVE, "label": HOLD}]}, r"duplicate labels"),
        ({"seeds": 0}, r"'seeds' = 0 must be ≥ 1"),
        ({"seeds": [1, 1]}, r"distinct non-negative"),
        ({"overrides": {"episod_s": 5}}, r"scenarios\[0\].*unknown key 'episod_s'"),
        ({"policies": [{"name": HOLD, "obs_mode": "flatt"}]}, r"obs_mode.*choose one of"),
        ({"reference": {"policies": ["hold"], "violation_weight": 2}}, r"violation_weight"),
        ({"scenarios": []}, r"at least one scenario"),
    ],
)
def test_bad_suites_fail_with_clear_messages(tmp_path: Path, changes: dict, message: str) -> None:
    path = write_suite(tmp_path / "bad.yaml", **changes)
    with pytest.raises(ConfigError, match=message) as info:
        load_suite(path)
    assert str(path) in str(info.value)


def test_unknown_suite_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioNotFound, match=r"unknown suite 'smok'.*Did you mean 'smoke'"):
        load_suite("smok")


def test_selected_policies_get_the_references(tiny_suite: Path) -> None:
    suite = load_suite(tiny_suite)
    chosen, added = select_policies(suite, ["reactive"])
    assert [p.display for p in chosen] == ["reactive", "hold"] and added == ["hold"]
    chosen, added = select_policies(suite, [REACTIVE, "hold"])
    assert [p.display for p in chosen] == [REACTIVE, "hold"] and added == []
    with pytest.raises(PolicyError):
        select_policies(suite, ["nonexistent"])


def test_the_same_policy_under_two_labels_is_refused(tiny_suite: Path) -> None:
    # Both would run under one run key, so one label's records would stand for both.
    suite = load_suite(tiny_suite)
    with pytest.raises(PolicyError, match=r"'reactive' and '.*ReactivePolicy' are the same policy"):
        select_policies(suite, ["reactive", REACTIVE])


def test_the_slo_target_defaults_to_0_99_and_is_checked(tmp_path: Path) -> None:
    assert load_suite(write_suite(tmp_path / "a.yaml")).slo_target == 0.99
    assert load_suite(write_suite(tmp_path / "b.yaml", slo_target=0.9)).slo_target == 0.9
    for bad in (0, 1.2, "high", True):
        with pytest.raises(
            ConfigError, match=r"key 'slo_target' = .*(fraction in \(0, 1\]|number)"
        ):
            load_suite(write_suite(tmp_path / "c.yaml", slo_target=bad))
