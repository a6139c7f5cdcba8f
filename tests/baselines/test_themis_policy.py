"""Themis-family policies on the env: full episodes, action spaces and behaviour."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from themis_env.baselines import make_policy
from themis_env.baselines.themis.policy import (
    HorizontalOnlyPolicy,
    OraclePolicy,
    ThemisPolicy,
    VerticalOnlyPolicy,
)

import themis_env  # noqa: F401  (registers the env ids)
from themis_env.errors import PolicyError

ENV_ID = "themis_env/InferenceCluster-v0"
POLICIES = ["themis", "horizontal", "vertical", "oracle"]


def make_env(scenario: str = "video-arxiv-bursty", **overrides):
    return gym.make(ENV_ID, scenario=scenario, **overrides)


def run(env, policy, seed: int = 0):
    """One episode; returns the infos and asserts every action lies in the action space."""
    obs, _ = env.reset(seed=seed)
    policy.reset()
    infos, done = [], False
    while not done:
        action, _ = policy.predict(obs)
        assert env.action_space.contains(action), action
        obs, _, terminated, truncated, info = env.step(action)
        assert not terminated
        done = truncated
        infos.append(info)
    return infos


@pytest.mark.parametrize("scenario", ["video-arxiv-bursty", "nlp-arxiv-steady"])
@pytest.mark.parametrize("name", POLICIES)
def test_full_short_episode(scenario, name) -> None:
    env = make_env(scenario, episode_s=60)
    policy = make_policy(name, env)
    infos = run(env, policy)
    kpis = infos[-1]["episode_kpis"]
    assert kpis["episode_s"] == pytest.approx(60)
    assert 0.0 <= kpis["slo_violation_rate"] <= 1.0
    assert policy.describe()["name"] == name


@pytest.mark.parametrize("action_mode", ["delta", "continuous"])
@pytest.mark.parametrize("name", POLICIES)
def test_other_action_and_observation_modes(action_mode, name) -> None:
    env = make_env(episode_s=15, action_mode=action_mode, obs_mode="flat")
    run(env, make_policy(name, env))


@pytest.fixture
def step_env(tmp_path):
    # 10 req/s for 30 s, then a surge to 40 req/s; exact counts keep the test deterministic.
    path = tmp_path / "step.csv"
    path.write_text("rps\n" + "\n".join(["10"] * 30 + ["40"] * 90) + "\n")
    return make_env(
        trace={"uri": f"file:{path}", "divisor": None}, episode_s=120, arrival_process="exact"
    )


def decisions(env, policy):
    obs, _ = env.reset(seed=0)
    policy.reset()
    out = []
    for _ in range(int(120 / env.unwrapped.decision_interval_s)):
        action, _ = policy.predict(obs)
        obs, _, _, truncated, info = env.step(action)
        out.append((info["sim_time_s"], policy.last_decision, info))
        if truncated:
            break
    return out


def test_themis_scales_vertically_on_a_surge_then_horizontally(step_env) -> None:
    out = decisions(step_env, make_policy("themis", step_env))
    before = out[29][1].targets
    after = [(t, d) for t, d, _ in out if t > 30 and d.targets != before]
    t_first, first = after[0]
    # First reaction: more cores on the same replicas (vertical), within a few seconds.
    assert first.mode == "vertical" and t_first <= 34
    assert [n for n, _, _ in first.targets] == [n for n, _, _ in before]
    assert any(c > b[1] for (_, c, _), b in zip(first.targets, before, strict=True))
    # Once the load is stable: 1-core replicas, more of them (cores handed back).
    settled = [
        d for t, d in after if d.mode == "horizontal" and all(c == 1 for _, c, _ in d.targets)
    ]
    assert settled, "Themis never went horizontal on a stable load"
    assert sum(n for n, _, _ in settled[0].targets) > sum(n for n, _, _ in before)
    t_settled = next(t for t, d in after if d is settled[0])
    assert t_settled > t_first
    # The env ends the episode at 1-core replicas.
    assert all(c == 1 for c in out[-1][2]["cores"])


def test_horizontal_only_never_changes_cores(step_env) -> None:
    out = decisions(step_env, make_policy("horizontal", step_env))
    assert all(c == 1 for _, _, info in out for c in info["cores"])
    replicas = {tuple(info["replicas"]) for _, _, info in out}
    assert len(replicas) > 1
    assert all(info["vertical_actions"] == 0 for _, _, info in out)


def test_vertical_only_keeps_replicas_fixed(step_env) -> None:
    initial = [d.replicas for d in step_env.unwrapped.current_targets]
    out = decisions(step_env, make_policy("vertical", step_env))
    assert all(info["replicas"] == initial for _, _, info in out)
    cores = [tuple(info["cores"]) for _, _, info in out]
    assert len(set(cores)) > 2  # cores go up on the surge (and down before it)
    assert max(sum(c) for c in cores) > sum(cores[0])
    assert all(info["horizontal_actions"] == 0 for _, _, info in out)


def test_vertical_only_with_given_replicas(step_env) -> None:
    policy = VerticalOnlyPolicy(step_env, rule="themis", replicas=[3, 2])
    out = decisions(step_env, policy)
    assert all(info["replicas"] == [3, 2] for _, _, info in out)
    with pytest.raises(PolicyError, match="one count per stage"):
        VerticalOnlyPolicy(step_env, replicas=[1])
    with pytest.raises(PolicyError, match="rule"):
        VerticalOnlyPolicy(step_env, rule="vpa")


def test_oracle_is_privileged_and_plans_on_the_future(step_env) -> None:
    oracle = make_policy("oracle", step_env)
    assert isinstance(oracle, OraclePolicy) and oracle.privileged
    assert oracle.describe()["privileged"] is True
    out = decisions(step_env, oracle)
    # It acts from the first step (the future is known) and sees the surge before it comes.
    assert out[0][1].load == 10
    assert any(d.load == 40 for t, d, _ in out if t <= 30)
    themis = ThemisPolicy(step_env)
    assert not themis.privileged
    assert ThemisPolicy(step_env, predictor="oracle").privileged


def test_learned_predictor_and_fallback(tmp_path) -> None:
    env = make_env(episode_s=20)
    learned = ThemisPolicy(env, predictor="learned")
    assert learned.describe()["predictor"]["name"] == "learned"
    run(env, learned)
    with pytest.warns(UserWarning, match="heuristic"):
        fallback = ThemisPolicy(env, predictor="learned", forecaster=str(tmp_path / "x.npz"))
    assert fallback.describe()["predictor"]["fallback_from"] == "learned"


@pytest.mark.filterwarnings("ignore:trace .twitter-2021-08. is not available")
def test_2025_preset_on_its_scenario() -> None:
    env = make_env("video-2025-twitter", episode_s=20)
    for policy in (ThemisPolicy(env), HorizontalOnlyPolicy(env), VerticalOnlyPolicy(env)):
        assert policy.preset.name == "themis-2025"
        run(env, policy)
    assert ThemisPolicy(env).controller.stabilisation == 20


def test_bad_parameters() -> None:
    env = make_env(episode_s=10)
    with pytest.raises(PolicyError, match="preset"):
        ThemisPolicy(env, preset="themis-2024")
    with pytest.raises(PolicyError, match="predictor"):
        ThemisPolicy(env, predictor="lstm")
    # A policy built for one preset can run the other on the same env.
    run(env, ThemisPolicy(env, preset="themis-2025"))


def test_warmup_holds_the_initial_configuration() -> None:
    env = make_env(episode_s=20)
    policy = ThemisPolicy(env, warmup_s=10)
    obs, _ = env.reset(seed=0)
    initial = [tuple(d) for d in env.unwrapped.current_targets]
    for _ in range(10):
        action, _ = policy.predict(obs)
        obs, *_ = env.step(action)
        assert policy.last_decision.mode == "hold"
        assert [tuple(d) for d in env.unwrapped.current_targets] == initial
    np.testing.assert_array_equal(policy.predict(obs)[0].shape, env.action_space.shape)
