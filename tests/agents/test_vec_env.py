"""The SB3 adapter of the native vector env: the same episodes and records as DummyVecEnv."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from stable_baselines3.common.monitor import Monitor, load_results  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize  # noqa: E402
from themis_env.agents.envs import (
    import_wrappers,  # noqa: E402
    make_vec_env,  # noqa: E402
)
from themis_env.agents.vec_env import ClusterVecEnv, native_wrappers  # noqa: E402

import themis_env  # noqa: E402, F401

pytestmark = pytest.mark.sb3

ID = "themis_env/InferenceCluster-v1"
# The shipped PPO agent's env: delta actions through FitDeltaAction, random trace windows.
PPO_WRAPPERS = [
    "themis_env.agents.wrappers.RandomWindowReset",
    "themis_env.agents.wrappers.FitDeltaAction",
]
KWARGS = {"action_mode": "delta", "obs_mode": "flat", "episode_s": 5}


def _rollout(venv, steps: int, seed: int):
    venv.seed(seed)
    venv.action_space.seed(seed)
    obs = venv.reset()
    record = [obs]
    for _ in range(steps):
        actions = np.stack([venv.action_space.sample() for _ in range(venv.num_envs)])
        obs, reward, done, infos = venv.step(actions)
        terminal = [i.get("terminal_observation") for i in infos]
        episodes = [{k: v for k, v in i.get("episode", {}).items() if k != "t"} for i in infos]
        truncated = [i.get("TimeLimit.truncated") for i in infos]
        record.append((obs, reward, done, terminal, episodes, truncated))
    return record


def test_native_adapter_plays_what_dummy_vec_env_plays(tmp_path):
    native = make_vec_env(ID, ["smoke-video"], KWARGS, PPO_WRAPPERS, 3, tmp_path / "native")
    dummy = make_vec_env(
        ID, ["smoke-video"], KWARGS, PPO_WRAPPERS, 3, tmp_path / "dummy", native=False
    )
    assert isinstance(native, ClusterVecEnv) and isinstance(dummy, DummyVecEnv)
    assert native.action_space == dummy.action_space
    assert native.observation_space == dummy.observation_space
    a, b = _rollout(native, 12, seed=4), _rollout(dummy, 12, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    for step_a, step_b in zip(a[1:], b[1:], strict=True):
        np.testing.assert_array_equal(step_a[0], step_b[0])  # obs (reset ones after a done)
        np.testing.assert_array_equal(step_a[1], step_b[1])  # rewards, float32 both
        np.testing.assert_array_equal(step_a[2], step_b[2])
        for x, y in zip(step_a[3], step_b[3], strict=True):
            assert (x is None) == (y is None) and (x is None or np.array_equal(x, y))
        assert step_a[4] == step_b[4] and step_a[5] == step_b[5]
    assert sum(bool(e) for step in a[1:] for e in step[4]) >= 6  # episodes ended
    native.close()
    dummy.close()
    # The monitor files hold the same episodes (their times aside).
    cols = ["r", "l", "trace_uri"]
    ours, theirs = load_results(str(tmp_path / "native")), load_results(str(tmp_path / "dummy"))
    assert len(ours) == len(theirs) >= 6
    assert sorted(map(tuple, ours[cols].values)) == sorted(map(tuple, theirs[cols].values))


def test_native_adapter_under_vec_normalize_with_masks_and_attributes():
    venv = make_vec_env(ID, ["smoke-video"], {"obs_mode": "flat", "episode_s": 4}, (), 2)
    assert isinstance(venv, ClusterVecEnv)
    assert venv.env_is_wrapped(Monitor) == [True, True]
    assert venv.get_attr("action_mode") == ["target", "target"]
    norm = VecNormalize(venv)
    norm.seed(0)
    obs = norm.reset()
    masks = venv.env_method("action_masks")
    assert len(masks) == 2 and masks[0].dtype == bool
    ended = []
    for _ in range(4):  # one 4-step episode
        actions = np.stack([venv.action_space.sample() for _ in range(2)])
        obs, reward, done, infos = norm.step(actions)
        assert obs.shape == (2, *venv.observation_space.shape) and np.isfinite(obs).all()
        ended.append(done.copy())
    assert not np.any(ended[:3]) and ended[3].all()
    assert all(0 <= i["episode_kpis"]["slo_violation_rate"] <= 1 for i in infos)
    assert all(i["episode"]["l"] == 4 for i in infos)
    norm.close()


def test_wrappers_the_batch_cannot_run_fall_back_to_dummy_vec_env():
    chain = import_wrappers(["themis_env.envs.wrappers.ClipAction"])
    assert "overrides step()" in native_wrappers(chain)
    venv = make_vec_env(ID, ["smoke-video"], {}, ["themis_env.envs.wrappers.ClipAction"], 2)
    assert isinstance(venv, DummyVecEnv)
    # Scenarios of other pipelines cannot share a batch either.
    mixed = make_vec_env(ID, ["smoke-video", "nlp-arxiv-bursty"], {}, (), 2)
    assert isinstance(mixed, DummyVecEnv)


def test_readme_ppo_example_trains_on_the_native_vec_env(tmp_path, monkeypatch):
    # Without a logger of its own, stable-baselines3 makes a folder in the system temp dir.
    monkeypatch.setenv("SB3_LOGDIR", str(tmp_path))
    import gymnasium as gym
    from stable_baselines3 import PPO
    from themis_env.agents.vec_env import make_cluster_vec_env

    venv = make_cluster_vec_env("themis_env/Video-Bursty-v1", 2, obs_mode="flat", episode_s=8)
    model = PPO("MlpPolicy", venv, seed=0, n_steps=8, batch_size=16, n_epochs=1, device="cpu")
    model.learn(total_timesteps=32)
    assert model.num_timesteps == 32 and len(model.ep_info_buffer) >= 2  # Monitor's records
    env = gym.make("themis_env/Video-Bursty-v1", obs_mode="flat", episode_s=8)
    obs, _ = env.reset(seed=1)
    assert env.action_space.contains(model.predict(obs, deterministic=True)[0])
    venv.close()


@pytest.mark.parametrize("scenario", ["smoke-video", "video-arxiv-variants"])
def test_fit_delta_action_batch_equals_its_action_on_every_cluster(scenario):
    """On full and empty clusters alike: held growth, limits and the joint budget."""
    import gymnasium as gym
    from themis_env.agents.wrappers import FitDeltaAction

    n = 12
    venv = gym.make_vec(
        ID,
        num_envs=n,
        scenario=scenario,
        action_mode="delta",
        cluster={"nodes": 2, "cores_per_node": 6},  # tight: growth is often held
        episode_s=40,
    )
    wrappers = [FitDeltaAction(env) for env in venv.envs]
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    held = 0
    for _ in range(25):
        actions = rng.integers(0, 3, size=(n, *venv.single_action_space.shape))
        got = FitDeltaAction.batch(wrappers, actions, venv.current_targets, venv.free_cores())
        batch_held = [w.held for w in wrappers]
        want = np.stack([w.action(a) for w, a in zip(wrappers, actions, strict=True)])
        np.testing.assert_array_equal(got, want)
        assert batch_held == [w.held for w in wrappers]
        held += sum(batch_held)
        venv.step(rng.integers(0, 3, size=(n, *venv.single_action_space.shape)))
    assert held > 0
