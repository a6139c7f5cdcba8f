from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from tests.evaluation.helpers import HOLD, RAISING, RANDOM, REACTIVE, ReactivePolicy
from themis_env.errors import PolicyError
from themis_env.evaluation.policies import build_policy, policy_identity, validate_policy_ref
from themis_env.evaluation.runner import ENV_ID, RunSpec, run_episode, spec_key


def test_kpis_match_the_envs_episode_kpis(short_spec: RunSpec) -> None:
    record = run_episode(short_spec)
    assert record.ok, record.error

    env = gym.make(ENV_ID, scenario="smoke-video", **short_spec.overrides)
    policy = ReactivePolicy(env.unwrapped, per_replica_rps=8.0)
    obs, _ = env.reset(seed=short_spec.seed)
    rewards, actions = [], []
    while True:
        action = policy.act(obs)
        actions.append(action.tolist())
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        if terminated or truncated:
            break
    expected = dict(info["episode_kpis"])
    fallback = expected.pop("trace_fallback")
    kpis = record.kpis
    for key, value in expected.items():
        if isinstance(value, float) and np.isnan(value):
            assert kpis[key] is None
        else:
            assert kpis[key] == value, key
    assert kpis["mean_reward"] == pytest.approx(np.mean(rewards), rel=1e-12)
    assert kpis["steps"] == len(actions) == 20
    assert record.actions == actions
    assert record.trace.fallback is fallback is False
    # Some actions actually scaled, so the replay checks are not trivial.
    assert kpis["horizontal_actions"] > 0


def test_record_holds_what_a_replay_needs(short_spec: RunSpec) -> None:
    record = run_episode(short_spec)
    assert record.env_id == ENV_ID and record.env_version == 1
    spec = json.loads(record.env_spec)
    assert spec["kwargs"]["scenario"] == "smoke-video"
    assert record.scenario_config["name"] == "smoke-video"
    assert record.scenario_config["episode_s"] == 20
    assert len(record.config_hash) == 64
    assert record.seed == 3
    assert record.policy.params == {"per_replica_rps": 8.0}
    assert record.policy.describe["name"] == "reactive"
    assert record.package_version
    assert record.key == spec_key(short_spec)
    assert record.timing["decision_ms_mean"] > 0
    timeline = record.timeline
    assert (
        len(timeline["t"]) == 20 and len(timeline["cores"]) == 2 and len(timeline["cores"][0]) == 20
    )
    json.loads(record.to_json())  # strict JSON


def test_same_spec_gives_the_same_kpis_and_actions() -> None:
    spec = RunSpec(scenario="smoke-video", seed=5, policy=RANDOM, overrides={"episode_s": 15})
    a, b = run_episode(spec), run_episode(spec)
    assert a.kpis == b.kpis and a.actions == b.actions
    other = run_episode(
        RunSpec(scenario="smoke-video", seed=6, policy=RANDOM, overrides={"episode_s": 15})
    )
    assert other.actions != a.actions  # the policy was seeded with the run's seed


def test_the_warm_up_before_timing_leaves_the_episode_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from themis_env.evaluation import runner

    spec = RunSpec(scenario="smoke-video", seed=3, policy=RANDOM, overrides={"episode_s": 10})
    calls: list[str] = []
    monkeypatch.setattr(runner, "_WARMED", set())
    real = runner.make_env
    monkeypatch.setattr(runner, "make_env", lambda s: calls.append(s.policy) or real(s))
    first = run_episode(spec)  # warms the policy up on a throwaway env first
    again = run_episode(spec)  # already warm in this process
    assert calls == [RANDOM, RANDOM, RANDOM]
    assert first.kpis == again.kpis and first.actions == again.actions


def test_a_raising_policy_is_recorded_as_failed() -> None:
    record = run_episode(
        RunSpec(scenario="smoke-video", seed=0, policy=RAISING, overrides={"episode_s": 20})
    )
    assert record.status == "failed"
    assert record.error.type == "RuntimeError"
    assert "blew up on purpose" in record.error.message
    assert "Traceback" in record.error.traceback
    assert record.steps_done == 4
    assert record.trace is not None  # the env was reset before the policy raised
    assert record.key
    json.loads(record.to_json())


def test_a_bad_scenario_is_recorded_as_failed() -> None:
    record = run_episode(
        RunSpec(scenario="smoke-video", seed=0, policy=HOLD, overrides={"episod_s": 20})
    )
    assert record.status == "failed"
    assert "episod_s" in record.error.message
    assert record.trace is None and record.steps_done == 0


def test_policy_references_resolve_or_fail_clearly(tmp_path) -> None:
    with pytest.raises(PolicyError, match="Known policies"):
        validate_policy_ref("hpaa")
    with pytest.raises(PolicyError, match="does not exist"):
        validate_policy_ref(f"agent:{tmp_path / 'missing.zip'}")
    with pytest.raises(PolicyError, match="PATH.zip"):
        validate_policy_ref("agent:model.pkl")
    with pytest.raises(PolicyError, match="module:Class"):
        validate_policy_ref("mod:")
    with pytest.raises(PolicyError, match="cannot load"):
        build_policy("tests.evaluation.helpers:Nope", None)
    zip_path = tmp_path / "a.zip"
    zip_path.write_bytes(b"one")
    first = policy_identity(f"agent:{zip_path}")
    zip_path.write_bytes(b"two")
    assert policy_identity(f"agent:{zip_path}") != first  # a new file is a new policy on resume
    assert policy_identity(REACTIVE) == REACTIVE


def test_run_key_depends_on_params_seed_and_config() -> None:
    base = RunSpec(scenario="smoke-video", seed=0, policy=REACTIVE, overrides={"episode_s": 20})
    keys = {
        spec_key(base),
        spec_key(
            RunSpec(scenario="smoke-video", seed=1, policy=REACTIVE, overrides={"episode_s": 20})
        ),
        spec_key(
            RunSpec(
                scenario="smoke-video",
                seed=0,
                policy=REACTIVE,
                params={"cores": 3},
                overrides={"episode_s": 20},
            )
        ),
        spec_key(
            RunSpec(scenario="smoke-video", seed=0, policy=REACTIVE, overrides={"episode_s": 21})
        ),
        spec_key(RunSpec(scenario="smoke-video", seed=0, policy=HOLD, overrides={"episode_s": 20})),
    }
    assert len(keys) == 5
    assert spec_key(base) == spec_key(RunSpec(**base.to_dict()))


def test_a_record_that_fails_its_checks_is_a_failed_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from themis_env.envs.inference_cluster import InferenceClusterEnv

    real = InferenceClusterEnv.episode_kpis

    def with_text(self: InferenceClusterEnv) -> dict:
        return {**real(self), "cost": "cheap"}

    monkeypatch.setattr(InferenceClusterEnv, "episode_kpis", with_text)
    record = run_episode(
        RunSpec(scenario="smoke-video", seed=0, policy=HOLD, overrides={"episode_s": 5})
    )
    assert record.status == "failed" and record.error.type == "RecordError"
    assert "'kpis.cost' = 'cheap'" in record.error.message
