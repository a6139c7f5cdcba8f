"""The padded layout with variant slots: one agent for one-model and variant scenarios."""

import gymnasium as gym
import numpy as np
import pytest
from themis_env.agents.artifacts import interface_mismatches
from themis_env.agents.evaluate import agent_fits, load_agent, required_env_kwargs
from themis_env.agents.padded import (
    MAX_STAGES,
    MAX_VARIANTS,
    PADDED_LAYOUT,
    PADDED_VARIANTS_LAYOUT,
    PadStageActions,
    StageFeatures,
    padded_interface,
)
from themis_env.agents.train import train
from themis_env.agents.wrappers import FitScaleAction

import themis_env  # noqa: F401
from themis_env.errors import ConfigError
from themis_env.resources import repo_root

from .helpers import assert_acts_on, tiny_args, tiny_config

ENV_ID = "themis_env/InferenceCluster-v1"
GENERALIST = (repo_root() or ".") / "agents" / "zoo" / "ppo-generalist" / "ppo.zip"  # type: ignore[operator]
V = MAX_VARIANTS
WIDTH = V + 2  # per stage: a replica move per variant slot, cores, batch
NAMES = StageFeatures.feature_names(V)
VARIANT_WRAPPERS = [
    "themis_env.agents.wrappers.RandomWindowReset",
    "themis_env.agents.wrappers.FitScaleAction",
    {"themis_env.agents.padded.StageFeatures": {"forecast": "none", "variants": V}},
    {"themis_env.agents.padded.PadStageActions": {"variants": V}},
]
# The shipped generalist's env actions on two fixed episodes (seed 0, 20 s), recorded before
# the variant slots existed: its layout must act exactly as it did.
GENERALIST_ACTIONS = {
    "smoke-video": [
        [2, 0, 0, 1, 0, 0],
        [2, 0, 0, 0, 1, 1],
        [2, 0, 0, 0, 0, 3],
        [2, 1, 0, 1, 1, 7],
        [2, 3, 0, 0, 2, 7],
        [2, 7, 0, 1, 3, 7],
        [2, 7, 0, 1, 3, 3],
        [2, 7, 0, 1, 3, 1],
        [2, 7, 0, 1, 3, 0],
        [2, 7, 0, 1, 3, 0],
        [2, 7, 0, 1, 3, 0],
        [2, 7, 0, 0, 3, 0],
        [2, 7, 0, 0, 4, 0],
        [2, 7, 0, 0, 5, 0],
        [2, 7, 0, 0, 6, 0],
        [2, 7, 0, 0, 5, 0],
        [2, 7, 0, 0, 6, 0],
        [2, 7, 0, 0, 5, 0],
        [2, 7, 0, 0, 6, 0],
        [2, 7, 0, 0, 5, 0],
    ],
    "nlp-arxiv-twitter": [
        [1, 0, 0, 1, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 1, 0, 1, 0],
        [0, 1, 0, 1, 0, 0, 0, 2, 0],
        [0, 2, 0, 3, 1, 1, 0, 5, 0],
        [0, 3, 0, 4, 3, 3, 0, 6, 0],
        [0, 4, 0, 4, 3, 1, 0, 7, 0],
        [0, 5, 0, 4, 3, 0, 0, 7, 0],
        [0, 6, 0, 5, 2, 0, 0, 7, 0],
        [0, 7, 0, 6, 2, 0, 0, 7, 0],
        [0, 7, 0, 6, 2, 0, 0, 7, 0],
        [0, 7, 0, 6, 2, 0, 0, 7, 0],
        [0, 7, 0, 6, 1, 0, 0, 7, 0],
        [0, 7, 0, 6, 2, 0, 0, 7, 0],
        [0, 7, 0, 6, 1, 0, 0, 7, 0],
        [0, 7, 0, 13, 0, 0, 0, 7, 0],
        [0, 7, 0, 6, 0, 0, 0, 7, 0],
        [1, 3, 0, 7, 1, 0, 0, 7, 0],
        [0, 3, 0, 6, 0, 0, 0, 7, 0],
        [1, 1, 0, 5, 0, 0, 0, 7, 0],
        [0, 0, 0, 4, 0, 0, 0, 7, 0],
    ],
}


def _padded(scenario: str, forecast: str = "none", **overrides) -> gym.Env:
    env = gym.make(ENV_ID, scenario=scenario, obs_mode="flat", action_mode="target", **overrides)
    features = StageFeatures(FitScaleAction(env), forecast=forecast, variants=V)
    return PadStageActions(features, variants=V)


def _keep() -> np.ndarray:
    return np.full(WIDTH * MAX_STAGES, 2)


def _registered_scenarios() -> list[str]:
    return sorted(
        {
            gym.spec(i).kwargs.get("scenario", "video-arxiv-bursty")
            for i in gym.registry
            if i.startswith("themis_env/")
        }
    )


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_every_registered_scenario_gets_the_same_spaces_with_stages_and_variants_masked():
    scenarios = _registered_scenarios()
    assert {"infadapter-resnet", "video-arxiv-variants", "ipa-video-bursty"} <= set(scenarios)
    shapes = set()
    for scenario in scenarios:
        env = _padded(scenario, episode_s=120)
        obs, _ = env.reset(seed=0)
        models = [len(m) for m in env.unwrapped.pipeline.stage_models]
        for _ in range(3):
            obs, *_ = env.step(env.action_space.sample())
            assert env.observation_space.contains(obs), scenario
        for i in range(MAX_STAGES):
            n_var = models[i] if i < len(models) else 0
            present = [obs[NAMES.index(f"stage{i}.variant{j}.present")] for j in range(V)]
            assert present == [1.0] * n_var + [0.0] * (V - n_var), (scenario, i)
            for j in range(n_var, V):  # a missing slot's features are all zeros
                assert not any(
                    obs[NAMES.index(n)] for n in NAMES if n.startswith(f"stage{i}.variant{j}.")
                )
        shapes.add((env.observation_space.shape, tuple(env.action_space.nvec)))
    assert shapes == {((len(NAMES),), (5,) * WIDTH * MAX_STAGES)}


def test_variant_features_read_the_profiles_and_the_replicas_of_each_variant():
    env = _padded("video-arxiv-variants")
    obs, _ = env.reset(seed=0)
    base = env.unwrapped
    acc = [obs[NAMES.index(f"stage1.variant{j}.accuracy")] for j in range(V)]
    assert acc == sorted(acc) and acc[-1] == 1.0  # ResNet 18..152: best last
    speed = [obs[NAMES.index(f"stage1.variant{j}.capacity_per_core")] for j in range(V)]
    assert speed[0] == 1.0 and speed == sorted(speed, reverse=True)  # ResNet18 is the fastest
    replicas = [obs[NAMES.index(f"stage1.variant{j}.replicas")] for j in range(V)]
    max_rep = base.stage_limits[1].max_replicas
    assert replicas == pytest.approx([1 / max_rep, 0, 0, 0, 0])  # initial: one ResNet18
    assert obs[NAMES.index("stage0.variant0.replicas")] == pytest.approx(
        2 / base.stage_limits[0].max_replicas
    )


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_one_model_stages_keep_the_46_features_of_the_first_layout():
    plain_env = gym.make(ENV_ID, scenario="nlp-arxiv-twitter", obs_mode="flat", episode_s=10)
    plain = StageFeatures(FitScaleAction(plain_env), forecast="heuristic")
    padded = _padded("nlp-arxiv-twitter", forecast="heuristic", episode_s=10)
    a, _ = plain.reset(seed=3)
    b, _ = padded.reset(seed=3)
    assert plain.observation_space.shape == (46,)
    np.testing.assert_array_equal(a, b[:46])
    for _ in range(5):
        a, *_ = plain.step(np.full(9, 3))
        b, *_ = padded.step(np.tile([3, 2, 2, 2, 2, 3, 3], MAX_STAGES))  # slot 0 is the model
        np.testing.assert_array_equal(a, b[:46])


@pytest.mark.parametrize(
    ("scenario", "stage", "slot"),
    [("ipa-video-bursty", 1, 2), ("infadapter-resnet", 0, 4), ("video-arxiv-variants", 1, 3)],
)
def test_a_padded_replica_move_changes_exactly_that_variants_replicas(scenario, stage, slot):
    env = _padded(scenario)
    env.reset(seed=0)
    base = env.unwrapped
    before = [list(t) for t in base.current_targets]
    action = _keep()
    action[stage * WIDTH + slot] = 3  # +1
    env.step(action)
    after = [list(t) for t in base.current_targets]
    expected = [list(t) for t in before]
    expected[stage][slot] += 1
    assert after == expected
    # The moves of stages and slots the scenario lacks are ignored.
    n_var = len(base.pipeline.stage_models[stage])
    other = action.copy()
    other[stage * WIDTH + n_var : stage * WIDTH + V] = 4
    other[base.n_stages * WIDTH :] = 0
    assert np.array_equal(env.action(action), env.action(other))


def test_a_stage_with_variants_keeps_a_replica_and_growth_that_does_not_fit_is_held():
    env = _padded("infadapter-resnet")  # one 20-core node, two 3-core ResNet18 replicas
    env.reset(seed=0)
    base = env.unwrapped
    halve_all = _keep()
    halve_all[:V] = 0
    env.step(halve_all)  # 2 -> 1 ResNet18 replica
    env.step(halve_all)  # 1 -> 0 would leave the stage empty: one replica is kept
    assert list(base.current_targets[0])[:V] == [1, 0, 0, 0, 0]
    grow = _keep()
    grow[1] = 4  # double ResNet34 (0 -> 0: held)
    grow[2] = 3  # +1 ResNet50
    grow[V] = 4  # double the cores: 3 -> 6 per replica
    env.step(grow)
    targets = list(base.current_targets[0])
    assert targets[:V] == [1, 0, 1, 0, 0] and targets[V] == 6
    many = _keep()
    many[3] = 3
    for _ in range(5):  # 6-core replicas on 20 cores: at most three
        many[3] = 4 if targets[3] else 3
        env.step(many)
        targets = list(base.current_targets[0])
    assert sum(targets[:V]) * targets[V] <= 20


def test_the_interface_is_versioned_and_mismatches_are_explained():
    variants_env = gym.make(ENV_ID, scenario="ipa-video-bursty", obs_mode="flat")
    record = padded_interface(variants_env, VARIANT_WRAPPERS)
    assert record["layout"] == PADDED_VARIANTS_LAYOUT and record["max_variants"] == V
    assert interface_mismatches(record, variants_env) == []
    one_model = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat")
    assert interface_mismatches(record, one_model) == []
    old = padded_interface(
        one_model,
        VARIANT_WRAPPERS[:2]
        + ["themis_env.agents.padded.StageFeatures", "themis_env.agents.padded.PadStageActions"],
    )
    assert old == {
        "layout": PADDED_LAYOUT,
        "max_stages": MAX_STAGES,
        "slots": 1,
        "trained_on_pipeline": "video",
        "history_s": 60,
    }
    (problem,) = interface_mismatches(old, variants_env)
    assert "model variants" in problem and PADDED_VARIANTS_LAYOUT in problem
    (problem,) = interface_mismatches({**record, "max_variants": 3}, variants_env)
    assert "pads to 3 variant slot(s) per stage, env has a stage with 5" in problem
    with pytest.raises(
        ConfigError, match="StageFeatures variants = 0 but PadStageActions variants = 5"
    ):
        padded_interface(variants_env, [VARIANT_WRAPPERS[1], VARIANT_WRAPPERS[3]])
    with pytest.raises(ConfigError, match="pads to 3 variant slot"):
        StageFeatures(variants_env, variants=3)
    with pytest.raises(ConfigError, match="variants = -1"):
        StageFeatures(one_model, variants=-1)


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
@pytest.mark.parametrize("scenario", sorted(GENERALIST_ACTIONS))
def test_the_shipped_generalist_acts_as_before(scenario, monkeypatch):
    monkeypatch.delenv("THEMIS_TRACE_DIR", raising=False)  # recorded on the trace's fallback
    env = gym.make(ENV_ID, scenario=scenario, episode_s=20, **required_env_kwargs(GENERALIST))
    policy = load_agent(str(GENERALIST), env)
    obs, _ = env.reset(seed=0)
    actions, done = [], False
    while not done:
        action = policy.predict(obs)[0]
        actions.append(np.asarray(action).astype(int).tolist())
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    assert actions == GENERALIST_ACTIONS[scenario]
    variants = gym.make(ENV_ID, scenario="video-arxiv-variants", **required_env_kwargs(GENERALIST))
    (problem,) = agent_fits(GENERALIST, variants)
    assert "model variants" in problem


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_an_agent_trained_on_variants_acts_on_one_model_pipelines_too(tmp_path):
    config = tiny_config(tmp_path, VARIANT_WRAPPERS, n_steps=32)
    args = tiny_args(
        tmp_path,
        "ppo",
        [],
        config=str(config),
        timesteps=32,
        n_envs=1,
        scenario=["infadapter-resnet"],
        env_kwargs=["episode_s=300"],
    )
    result = train(args, argv=[])
    assert '"padded-variants"' in (tmp_path / "ppo" / "ppo.json").read_text()
    scenarios = ["infadapter-resnet", "ipa-video-bursty", "smoke-video", "nlp-arxiv-twitter"]
    assert_acts_on(result.final, ENV_ID, scenarios, episode_s=60)
