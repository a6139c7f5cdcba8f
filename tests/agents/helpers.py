"""Tiny training runs shared by the agent tests."""

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from themis_env.agents.evaluate import agent_fits, load_agent
from themis_env.agents.train import Args, train


def tiny_args(tmp_path: Path, algo: str, hyperparams: list[str], **extra: Any) -> Args:
    """A run of a few hundred steps on the 60-s smoke scenario, quiet and without a plot."""
    fields: dict[str, Any] = dict(
        algo=algo,
        scenario=["smoke-video"],
        timesteps=256,
        n_envs=2,
        seed=1,
        out=str(tmp_path / algo),
        hyperparams=list(hyperparams),
        env_kwargs=["episode_s=60"],
        plot=False,
        verbose=0,
    )
    fields.update(extra)
    return Args(**fields)


def tiny_config(tmp_path: Path, wrappers: list[Any], n_steps: int) -> Path:
    """A one-env PPO config file acting through ``wrappers`` on the flat target interface."""
    config = tmp_path / "tiny.yml"
    config.write_text(
        "default:\n  n_envs: 1\n  policy: MlpPolicy\n"
        "  normalize: 'dict(norm_obs=True, norm_reward=True)'\n"
        "  env_kwargs: {action_mode: target, obs_mode: flat}\n"
        f"  env_wrapper: {wrappers!r}\n"
        f"  n_steps: {n_steps}\n  batch_size: {n_steps}\n  n_epochs: 1\n"
    )
    return config


def assert_acts_on(agent: Path | str, env_id: str, scenarios: list[str], episode_s: int) -> None:
    """The agent fits each scenario's env and its first action is in the env's action space."""
    for scenario in scenarios:
        env = gym.make(env_id, scenario=scenario, obs_mode="flat", episode_s=episode_s)
        assert agent_fits(agent, env) == [], scenario
        policy = load_agent(str(agent), env)
        obs, _ = env.reset(seed=0)
        action = policy.predict(obs)[0]
        assert env.action_space.contains(action), scenario
        env.step(action)


def episode_actions(env: gym.Env, agent: Any, steps: int, *twins: Any) -> list[Any]:
    """The actions ``agent`` takes in up to ``steps`` steps after ``env.reset(seed=0)``.

    Each of ``twins`` (the same agent loaded another way) must take the same ones.
    """
    obs, _ = env.reset(seed=0)
    for a in (agent, *twins):
        a.reset()
    actions = []
    for _ in range(steps):
        action = agent.predict(obs)[0]
        for twin in twins:
            np.testing.assert_array_equal(action, twin.predict(obs)[0])
        actions.append(np.asarray(action).tolist())
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    return actions


def tiny_trained(tmp_path: Path, wrappers: list[Any], layout: str) -> Path:
    """The final agent of 32 PPO steps through ``wrappers``; its manifest names ``layout``."""
    config = tiny_config(tmp_path, wrappers, n_steps=32)
    args = tiny_args(tmp_path, "ppo", [], config=str(config), timesteps=32, n_envs=1)
    result = train(args, argv=[])
    assert f'"{layout}"' in (tmp_path / "ppo" / "ppo.json").read_text()
    return Path(result.final)


def stepped_through(wrapped: Any, action: Any, seed: int = 3) -> list[Any]:
    """One episode of a residual wrapper whose env the caller steps (as the evaluator does).

    Per step: the observation, the reward and the targets in force.
    """
    seen = []
    obs, _ = wrapped.reset(seed=seed)
    done = False
    while not done:
        obs, reward, terminated, truncated, _ = wrapped.env.step(wrapped.action(action))
        wrapped.observe(obs)
        seen.append((obs.tolist(), reward, wrapped.unwrapped.current_targets))
        done = terminated or truncated
    return seen
