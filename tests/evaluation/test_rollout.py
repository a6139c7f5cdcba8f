"""The one episode loop: its callers (runner, replay, agent evaluation) give the same figures."""

from __future__ import annotations

import gymnasium as gym
import pytest
from themis_env.agents.evaluate import run_episode as agent_episode
from themis_env.baselines import make_policy

from tests.evaluation.helpers import RAISING, REACTIVE, RaisingPolicy, ReactivePolicy
from themis_env.evaluation.records import json_safe
from themis_env.evaluation.rollout import Episode, rollout
from themis_env.evaluation.runner import ENV_ID, RunSpec, run_episode
from themis_env.evaluation.validation import replay_kpis

OVERRIDES = {"episode_s": 25}


def _env() -> gym.Env:
    return gym.make(ENV_ID, scenario="smoke-video", **OVERRIDES)


@pytest.mark.parametrize("policy", ["hpa", "vpa"])
def test_runner_replay_and_agent_evaluation_agree(policy: str) -> None:
    spec = RunSpec(scenario="smoke-video", seed=4, policy=policy, overrides=OVERRIDES)
    record = run_episode(spec)
    assert record.ok, record.error
    # The replay of the recorded actions: every KPI, exactly.
    replayed, fallback = replay_kpis(record)
    assert replayed == record.kpis and fallback == record.trace.fallback
    # themis_env.agents.evaluate (and so agents.select) on the same seed.
    env = _env()
    row = agent_episode(make_policy(policy, env.unwrapped), env, 4)
    env.close()
    shared = set(row) & set(record.kpis)
    assert {"slo_violation_rate", "mean_cores", "cost", "return", "steps"} <= shared
    assert {k: row[k] for k in shared} == {k: record.kpis[k] for k in shared}
    assert row["trace_fallback"] == record.trace.fallback
    assert row["trace_uri"] == record.trace.uri


def test_an_episode_holds_actions_rewards_kpis_and_a_timeline() -> None:
    env = _env()
    episode = rollout(env, ReactivePolicy(env.unwrapped, per_replica_rps=8.0), 2, timeline=True)
    env.close()
    assert episode.started and episode.steps == 25 == len(episode.actions)
    assert episode.kpis["steps"] == 25
    assert episode.kpis["return"] == pytest.approx(sum(episode.rewards), rel=1e-12)
    assert "trace_fallback" not in episode.kpis
    assert len(episode.timeline["t"]) == 25
    assert set(episode.decision_ms()) == {"decision_ms_mean", "decision_ms_p99", "decision_ms_max"}
    record = run_episode(
        RunSpec(
            scenario="smoke-video",
            seed=2,
            policy=REACTIVE,
            params={"per_replica_rps": 8.0},
            overrides=OVERRIDES,
        )
    )
    assert record.actions == episode.actions
    assert record.timeline == json_safe(episode.timeline)  # a p99 of no completion is null


def test_a_raising_policy_leaves_the_steps_done_in_the_episode() -> None:
    env = _env()
    episode = Episode(seed=0)
    with pytest.raises(RuntimeError, match="blew up on purpose"):
        rollout(env, RaisingPolicy(env.unwrapped), 0, episode=episode)
    env.close()
    assert episode.started and episode.steps == 4 and episode.kpis is None
    record = run_episode(RunSpec(scenario="smoke-video", seed=0, policy=RAISING))
    assert record.steps_done == episode.steps
