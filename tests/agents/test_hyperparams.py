from pathlib import Path

import pytest
from themis_env.agents.algos import ALGOS, algo_spec
from themis_env.agents.hyperparams import (
    LinearSchedule,
    config_path,
    load_hyperparams,
)

from themis_env.config.assignments import parse_assignments
from themis_env.errors import ConfigError

GENERIC = "themis_env/InferenceCluster-v0"


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_every_algorithm_has_a_config_with_a_default_and_the_generic_id(algo):
    hp = load_hyperparams(algo, GENERIC)
    assert hp.section == GENERIC
    assert hp.env_kwargs["scenario"] == "video-arxiv-train"
    assert hp.env_kwargs["obs_mode"] == "flat"
    assert hp.n_envs >= 1 and hp.n_timesteps > 0
    assert "themis_env.agents.wrappers.RandomWindowReset" in hp.env_wrapper
    other = load_hyperparams(algo, "themis_env/Video-Twitter-v0")
    assert other.section == "default"
    assert "scenario" not in other.env_kwargs  # a preset id keeps its own scenario


def test_a_malformed_or_python_tagged_file_is_a_config_error(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text('default:\n  policy: !!python/object/apply:os.system ["echo hi"]\n')
    with pytest.raises(ConfigError, match=r"bad.yml: line 2, column 11 is not valid YAML"):
        load_hyperparams("ppo", "any", path)
    path.write_text("default: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yml: line 2, column 1 is not valid YAML"):
        load_hyperparams("ppo", "any", path)


def test_action_forms_fit_the_algorithms():
    assert load_hyperparams("sac", GENERIC).env_kwargs["action_mode"] == "continuous"
    assert load_hyperparams("td3", GENERIC).env_kwargs["action_mode"] == "continuous"
    dqn = load_hyperparams("dqn", GENERIC)
    assert "themis_env.envs.wrappers.DiscreteActionWrapper" in dqn.env_wrapper
    assert algo_spec("maskable_ppo").maskable


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_constructor_arguments_are_accepted_by_the_algorithm(algo):
    pytest.importorskip("stable_baselines3")
    pytest.importorskip("sb3_contrib")
    from themis_env.agents.algos import algo_class

    cls = algo_class(algo)
    hp = load_hyperparams(algo, GENERIC)
    kwargs = hp.model_kwargs(cls, action_dim=6)
    if isinstance(kwargs.get("learning_rate"), LinearSchedule):
        assert kwargs["learning_rate"](1.0) == pytest.approx(kwargs["learning_rate"].initial)
        assert kwargs["learning_rate"](0.0) == 0.0
    assert isinstance(kwargs.get("policy_kwargs", {}), dict)
    if hp.normalize is not None:
        assert hp.normalize["gamma"] == hp.algo_kwargs["gamma"]


def test_overrides_replace_keys_and_merge_env_kwargs():
    hp = load_hyperparams(
        "ppo", GENERIC, overrides={"n_steps": 64, "env_kwargs": {"action_mode": "delta"}}
    )
    assert hp.algo_kwargs["n_steps"] == 64
    assert hp.env_kwargs == {
        "scenario": "video-arxiv-train",
        "action_mode": "delta",
        "obs_mode": "flat",
    }


def test_command_line_overrides_use_the_shared_parser():
    overrides = parse_assignments(["learning_rate=2e-1"], "--hyperparams")
    overrides["env_kwargs"] = parse_assignments(["reward.w_cost=1e-1"], "--env-kwargs")
    hp = load_hyperparams("ppo", GENERIC, overrides=overrides)
    assert hp.algo_kwargs["learning_rate"] == 0.2
    assert hp.env_kwargs["reward"] == {"w_cost": 0.1}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "algo.yml"
    path.write_text(text)
    return path


def test_bad_files_fail_with_the_file_and_key(tmp_path):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    with pytest.raises(ConfigError, match="no section"):
        load_hyperparams("ppo", GENERIC, _write(tmp_path, "other-v0: {n_envs: 1}\n"))
    hp = load_hyperparams("ppo", GENERIC, _write(tmp_path, "default: {n_stepz: 8}\n"))
    with pytest.raises(ConfigError, match="'n_stepz' is not an argument of PPO. Did you mean"):
        hp.model_kwargs(PPO)
    hp = load_hyperparams("ppo", GENERIC, _write(tmp_path, "default: {learning_rate: exp_1e-3}\n"))
    with pytest.raises(ConfigError, match="lin_<number>"):
        hp.model_kwargs(PPO)
    with pytest.raises(ConfigError, match="rl-zoo3 features"):
        load_hyperparams("ppo", GENERIC, _write(tmp_path, "default: {frame_stack: 4}\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_hyperparams("ppo", GENERIC, tmp_path / "missing.yml")


def test_unknown_algorithm_suggests_the_close_name():
    with pytest.raises(ConfigError, match="Did you mean 'ppo'"):
        algo_spec("ppo2")


@pytest.mark.parametrize("algo", ["ppo", "a2c", "dqn", "sac", "td3"])
def test_rl_zoo3_reads_the_same_files(algo, tmp_path):
    pytest.importorskip("rl_zoo3")
    import argparse

    from rl_zoo3.exp_manager import ExperimentManager

    manager = ExperimentManager(
        argparse.Namespace(),
        algo,
        GENERIC,
        str(tmp_path),
        config=str(config_path(algo)),
        n_timesteps=8,
        eval_freq=-1,
        verbose=0,
    )
    hyperparams, _ = manager.read_hyperparameters()
    processed, env_wrapper, _, _ = manager._preprocess_hyperparams(hyperparams)
    assert manager.env_kwargs["scenario"] == "video-arxiv-train"
    assert env_wrapper is not None  # the import paths resolve
    assert manager.normalize
    assert "n_envs" not in processed and "env_kwargs" not in processed


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_every_shipped_file_builds_a_working_env_for_every_registered_id(algo):
    """As rl-zoo3 does with -conf: gym.make(id, **env_kwargs), then the env_wrapper chain.

    RandomWindowReset used to fail the reset of every id whose scenario has no episode length.
    """
    import gymnasium as gym
    from themis_env.agents.envs import import_wrappers
    from themis_env.agents.train import _space_kind

    from themis_env.envs.registration import registered_ids

    for env_id in registered_ids():
        hp = load_hyperparams(algo, env_id)
        env = gym.make(env_id, **hp.env_kwargs)
        for _, cls, kwargs in import_wrappers(hp.env_wrapper):
            env = cls(env, **kwargs)
        env.reset(seed=0)
        assert _space_kind(env.action_space) in algo_spec(algo).action_spaces, env_id
        env.action_space.seed(0)
        env.step(env.action_space.sample())
        env.close()


AGENT_CONFIGS = sorted(p for p in config_path("ppo").parent.glob("*.yml") if p.stem not in ALGOS)


def test_the_agent_configs_are_found():
    assert any(p.stem == "ppo-themis-experts" for p in AGENT_CONFIGS)


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
@pytest.mark.parametrize("path", AGENT_CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_agent_config_builds_a_working_env(path):
    """A config beside the algorithms' (an agent's, named ``<algo>-<agent>``) loads, and its
    env_wrapper chain (every kwarg checked by the wrappers) builds and steps an env."""
    import gymnasium as gym
    from themis_env.agents.envs import import_wrappers

    algo = path.stem.split("-")[0]
    hp = load_hyperparams(algo, GENERIC, path)
    env = gym.make(GENERIC, **{**hp.env_kwargs, "scenario": "smoke-video"})
    for _, cls, kwargs in import_wrappers(hp.env_wrapper):
        env = cls(env, **kwargs)
    env.reset(seed=0)
    env.action_space.seed(0)
    obs, *_ = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs), path.name
    env.close()


@pytest.mark.slow
def test_rl_zoo3_trains_with_the_shipped_file_on_a_synthetic_trace_id(tmp_path):
    import subprocess
    import sys

    pytest.importorskip("rl_zoo3")
    command = [
        sys.executable,
        "-m",
        "rl_zoo3.train",
        "--algo",
        "ppo",
        "--env",
        "themis_env/Nlp-Bursty-v0",  # no episode length: RandomWindowReset's failing case
        "--gym-packages",
        "themis_env",
        "-conf",
        str(config_path("ppo")),
        "-n",
        "32",
        "-params",
        "n_steps:16",
        "batch_size:16",
        "n_envs:1",
        "--eval-freq",
        "-1",
        "-f",
        str(tmp_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(tmp_path.glob("ppo/*/themis_env-Nlp-Bursty-v0.zip"))
