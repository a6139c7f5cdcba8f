"""Loading agents for evaluation: observation forms, action translation, mismatches, the CLI."""

import json
import shutil

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")

from themis_env.agents.artifacts import agent_files  # noqa: E402
from themis_env.agents.evaluate import agent_fits, load_agent, main, required_env_kwargs  # noqa: E402
from themis_env.agents.train import train  # noqa: E402
from themis_env.baselines.base import Policy  # noqa: E402

import themis_env  # noqa: E402,F401
from tests.agents.helpers import tiny_args  # noqa: E402
from themis_env.errors import PolicyError  # noqa: E402

pytestmark = pytest.mark.sb3

ENV_ID = "themis_env/InferenceCluster-v0"


def _train(tmp_path, algo, hyperparams, env_kwargs=()):
    args = tiny_args(
        tmp_path, algo, hyperparams, timesteps=128, seed=0, env_kwargs=["episode_s=60", *env_kwargs]
    )
    return train(args, argv=[]).final


@pytest.fixture(scope="module")
def fit_delta_agent(tmp_path_factory):
    """A PPO agent acting through themis_env.agents.wrappers.FitDeltaAction on a delta env."""
    wrappers = (
        "env_wrapper=[themis_env.agents.wrappers.RandomWindowReset,"
        " themis_env.agents.wrappers.FitDeltaAction]"
    )
    return _train(
        tmp_path_factory.mktemp("agents"),
        "ppo",
        ["n_steps=64", "batch_size=64", wrappers],
        ["action_mode=delta"],
    )


def _rollout(policy, env, steps=40):
    obs, _ = env.reset(seed=4)
    configs = []
    for _ in range(steps):
        action, _ = policy.predict(obs)
        obs, _, _, _, info = env.step(action)
        configs.append((info["replicas"], info["cores"], info["batch"]))
    return configs


def test_the_same_decisions_whatever_form_the_env_observes_and_acts_in(fit_delta_agent):
    assert required_env_kwargs(fit_delta_agent) == {"action_mode": "delta", "obs_mode": "flat"}
    runs = []
    for kwargs in (
        required_env_kwargs(fit_delta_agent),
        {"action_mode": "target", "obs_mode": "dict"},
        {"action_mode": "continuous", "obs_mode": "flat"},
    ):
        env = gym.make(ENV_ID, scenario="smoke-video", **kwargs)
        policy = load_agent(str(fit_delta_agent), env)
        assert isinstance(policy, Policy) and not policy.privileged
        runs.append(_rollout(policy, env))
    assert runs[0] == runs[1] == runs[2]
    assert len({str(c) for c in runs[0]}) > 1  # the agent does change the configuration


def test_a_scale_move_agent_acts_alike_on_whole_target_envs_and_refuses_a_delta_env(tmp_path):
    wrappers = (
        "env_wrapper=[themis_env.agents.wrappers.RandomWindowReset,"
        " themis_env.agents.wrappers.FitScaleAction]"
    )
    hyperparams = ["n_steps=64", "batch_size=64", wrappers]
    path = _train(tmp_path, "ppo", hyperparams, ["action_mode=target"])
    assert required_env_kwargs(path) == {"action_mode": "target", "obs_mode": "flat"}
    runs = []
    for kwargs in ({"obs_mode": "flat"}, {"action_mode": "continuous"}):
        env = gym.make(ENV_ID, scenario="smoke-video", **kwargs)
        runs.append(_rollout(load_agent(str(path), env), env))
    assert runs[0] == runs[1]
    with pytest.raises(PolicyError, match="FitScaleAction.*action_mode='target'"):
        load_agent(str(path), gym.make(ENV_ID, scenario="smoke-video", action_mode="delta"))


def test_an_env_with_another_interface_is_refused_with_the_reason(fit_delta_agent):
    other_pipeline = gym.make(ENV_ID, scenario="sentiment-arxiv-bursty")
    assert any("pipeline" in p for p in agent_fits(fit_delta_agent, other_pipeline))
    with pytest.raises(PolicyError, match="trained on a different env.*pipeline"):
        load_agent(str(fit_delta_agent), other_pipeline)
    shorter_history = gym.make(ENV_ID, scenario="smoke-video", history_s=30)
    with pytest.raises(PolicyError, match="observation size: trained on 82, env has 52"):
        load_agent(str(fit_delta_agent), shorter_history)
    assert agent_fits(fit_delta_agent, gym.make(ENV_ID, scenario="video-arxiv-twitter")) == []


def test_missing_files_are_named(fit_delta_agent, tmp_path):
    env = gym.make(ENV_ID, scenario="smoke-video")
    with pytest.raises(PolicyError, match="does not exist"):
        load_agent(str(tmp_path / "nothing.zip"), env)
    files = agent_files(fit_delta_agent)
    copy = tmp_path / "copy.zip"
    shutil.copy(files.model, copy)
    with pytest.raises(PolicyError, match="no manifest copy.json"):
        load_agent(str(copy), env)
    shutil.copy(files.manifest, agent_files(copy).manifest)
    with pytest.raises(PolicyError, match="ppo.policy.npz is missing"):
        load_agent(str(copy), env)  # the manifest names the weights; they were not copied


def test_a_masked_agent_uses_the_masks_of_its_own_action_form(tmp_path):
    path = _train(tmp_path, "maskable_ppo", ["n_steps=64", "batch_size=64"])
    with pytest.raises(PolicyError, match="a 'delta' env cannot express its targets"):
        load_agent(str(path), gym.make(ENV_ID, scenario="smoke-video", action_mode="delta"))
    env = gym.make(ENV_ID, scenario="smoke-video", action_mode="continuous")
    policy = load_agent(str(path), env)
    assert policy.trained_action_mode == "target"
    nvec = gym.make(ENV_ID, scenario="smoke-video").action_space.nvec
    offsets = np.concatenate([[0], np.cumsum(nvec)[:-1]])
    obs, _ = env.reset(seed=0)
    for _ in range(30):
        masks = policy._masks()
        assert masks.shape == (nvec.sum(),)  # the target form's masks: the env has none
        chosen, _ = policy.model.predict(
            policy.transform_obs(obs), deterministic=True, action_masks=masks
        )
        assert masks[offsets + chosen].all()
        obs, _, _, _, _ = env.step(policy.act(obs))


def test_command_line_evaluates_beside_baselines(fit_delta_agent, tmp_path, capsys):
    out = tmp_path / "results.json"
    code = main(
        [
            str(fit_delta_agent),
            "--scenario",
            "smoke-video",
            "--seeds",
            "1",
            "--compare",
            "static",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["policy"] for r in last["results"]] == ["agent", "static"]
    rows = json.loads(out.read_text())
    assert rows[0]["episodes"][0]["steps"] == 120
    assert 0.0 <= rows[0]["slo_violation_rate"] <= 1.0
    assert main([str(tmp_path / "missing.zip")]) == 2
