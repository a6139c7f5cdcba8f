"""Vectorised use: the native vector env, Gymnasium make_vec (sync and async), SB3 VecEnvs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from themis_env.envs.vector import InferenceClusterVectorEnv
from themis_env.errors import ConfigError, InvalidActionError

from .conftest import ALL_IDS, GENERIC_ID, SHORT, make, same


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_runs_and_matches_single_envs(mode):
    vec = gym.make_vec(
        "themis_env:" + GENERIC_ID,
        num_envs=2,
        vectorization_mode=mode,
        episode_s=5,
        obs_mode="flat",
    )
    try:
        obs, _ = vec.reset(seed=7)
        assert obs.shape == (2, *vec.single_observation_space.shape)
        vec.action_space.seed(0)
        actions = [vec.action_space.sample() for _ in range(6)]
        rewards = []
        for a in actions:
            obs, reward, terminated, truncated, _ = vec.step(a)
            assert vec.observation_space.contains(obs)
            rewards.append(reward)
        assert not terminated.any()
    finally:
        vec.close()
    # Sub-env i is seeded with seed + i and equals a single env run with the same actions.
    for i in range(2):
        single = make(episode_s=5, obs_mode="flat")
        single.reset(seed=7 + i)
        for step, a in enumerate(actions[:5]):  # autoreset follows the 5th (truncating) step
            _, reward, *_ = single.step(a[i])
            assert same(reward, float(rewards[step][i]))


@pytest.mark.sb3
def test_sb3_dummy_and_subproc_vec_envs_run_and_agree():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    kwargs = {"episode_s": 4}
    records = []
    for cls, vec_kwargs in ((DummyVecEnv, None), (SubprocVecEnv, {"start_method": "fork"})):
        vec = make_vec_env(
            "themis_env:" + GENERIC_ID,
            n_envs=2,
            seed=3,
            vec_env_cls=cls,
            env_kwargs=kwargs,
            vec_env_kwargs=vec_kwargs,
        )
        try:
            obs = vec.reset()
            assert set(obs) == set(vec.observation_space.spaces)
            vec.action_space.seed(0)
            rewards, dones = [], []
            for _ in range(5):
                action = np.stack([vec.action_space.sample() for _ in range(2)])
                obs, reward, done, infos = vec.step(action)
                rewards.append(reward)
                dones.append(done)
            # SB3 resets at once on truncation and marks it for bootstrapping.
            assert dones[3].all() and infos is not None
            records.append(np.array(rewards, dtype=np.float32))  # Dummy stores float32
        finally:
            vec.close()
    np.testing.assert_array_equal(records[0], records[1])


# ---------------------------------------------------------------------- native vector env
def native(env_id: str = GENERIC_ID, num_envs: int = 3, **kwargs):
    """``gym.make_vec`` in Gymnasium's ``vector_entry_point`` mode, short episodes."""
    return gym.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
    )


def _rows(obs, i: int):
    return {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]


_ALL_TERMS = {"w_accuracy": 0.5, "cost_budget": 6}


@pytest.mark.parametrize(
    ("env_id", "action_mode", "obs_mode", "limit", "reward"),
    [
        (GENERIC_ID, "target", "dict", None, None),
        # spread placement, deferred resizes
        ("themis_env/InferenceCluster-v1", "target", "dict", None, None),
        (GENERIC_ID, "delta", "flat", None, None),
        (GENERIC_ID, "continuous", "flat", None, None),
        (GENERIC_ID, "target", "flat", 4, None),  # max_episode_steps cuts the episodes
        ("themis_env/Video-Variants-v1", "target", "flat", None, None),  # variants and accuracy
        ("themis_env/Video-Variants-v1", "delta", "dict", None, None),
        # every reward term: accuracy added, a cost budget left free
        ("themis_env/Video-Variants-v1", "target", "flat", None, _ALL_TERMS),
    ],
)
def test_native_cluster_i_plays_the_single_env_episode_of_seed_plus_i(
    env_id, action_mode, obs_mode, limit, reward
):
    """Random actions over several episode ends: every figure equals the single envs'."""
    n, seed, steps = 3, 11, 17
    kwargs = {"episode_s": 6, "action_mode": action_mode, "obs_mode": obs_mode}
    if reward is not None:
        kwargs["reward"] = reward
    vec = native(env_id, n, max_episode_steps=limit, **kwargs)
    singles = [make(env_id, max_episode_steps=limit, **kwargs) for _ in range(n)]
    obs, _ = vec.reset(seed=seed)
    for i, env in enumerate(singles):
        assert same(_rows(obs, i), env.reset(seed=seed + i)[0])
    vec.action_space.seed(5)
    ended = np.zeros(n, dtype=bool)
    ends = 0
    for _ in range(steps):
        actions = vec.action_space.sample()
        obs, reward, terminated, truncated, info = vec.step(actions)
        assert vec.observation_space.contains(obs)
        assert reward.dtype == np.float64 and truncated.dtype == terminated.dtype == np.bool_
        for i, env in enumerate(singles):
            if ended[i]:  # NEXT_STEP autoreset: the action is ignored, the reward is 0
                assert same(_rows(obs, i), env.reset()[0])
                assert reward[i] == 0.0 and not truncated[i] and not terminated[i]
                continue
            o, r, te, tr, inf = env.step(actions[i])
            assert same(_rows(obs, i), o)
            assert same(float(reward[i]), r)
            assert (bool(terminated[i]), bool(truncated[i])) == (te, tr)
            if tr:
                kpis = {k: v[i] for k, v in info["episode_kpis"].items() if not k.startswith("_")}
                expected = inf.get("episode_kpis") or env.unwrapped.episode_kpis()
                assert kpis.keys() == expected.keys()
                assert all(same(type(expected[k])(kpis[k]), expected[k]) for k in kpis)
                assert info["_episode_kpis"][i]
                ends += 1
        if not truncated.any():
            assert info == {}  # per-step info stays small
        ended = truncated | terminated
    assert ends >= 2 * n  # every cluster ended at least two episodes


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_native_vector_env_contract_for_every_id(env_id):
    vec = native(env_id, 2, episode_s=max(SHORT["episode_s"], 90), obs_mode="flat")
    assert isinstance(vec, gym.vector.VectorEnv)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    assert vec.single_observation_space == vec.envs[0].layout.space("flat")
    assert vec.spec.id == env_id and vec.spec.kwargs["vectorization_mode"] == "vector_entry_point"
    obs, info = vec.reset(seed=0)
    assert obs.shape == (2, *vec.single_observation_space.shape) and info == {}
    assert vec.observation_space.contains(obs)
    vec.action_space.seed(0)
    obs, reward, terminated, truncated, info = vec.step(vec.action_space.sample())
    assert vec.observation_space.contains(obs)
    assert reward.shape == terminated.shape == truncated.shape == (2,)
    # The default mode of make_vec is the native env now.
    default = gym.make_vec(env_id, num_envs=2, episode_s=90)
    assert type(default.unwrapped) is type(vec.unwrapped)
    vec.close()
    default.close()


def test_native_reset_mask_with_autoreset_disabled_resets_only_those_clusters():
    vec = native(num_envs=3, episode_s=2, obs_mode="flat", autoreset_mode="disabled")
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.DISABLED
    first, _ = vec.reset(seed=1)
    action = np.zeros((3, *vec.single_action_space.shape), dtype=np.int64)
    vec.step(action)
    obs, _, _, truncated, _ = vec.step(action)
    assert truncated.all()
    with pytest.raises(gym.error.ResetNeeded, match="reset_mask"):
        vec.step(action)
    mask = np.array([True, False, True])
    again, _ = vec.reset(seed=[1, None, 3], options={"reset_mask": mask})
    np.testing.assert_array_equal(again[0], first[0])  # cluster 0 reseeded with its seed
    np.testing.assert_array_equal(again[1], obs[1])  # cluster 1 untouched
    with pytest.raises(gym.error.ResetNeeded):
        vec.step(action)  # cluster 1 still ended


def test_native_step_moves_every_cluster_clock_and_a_reset_one_starts_at_zero():
    # The compiled step moves each simulator's clock (no per-cluster Python after it).
    vec = native(num_envs=3, episode_s=3, obs_mode="flat")
    vec.reset(seed=0)
    action = vec.action_space.sample()
    for k in range(1, 4):
        vec.step(action)
        assert [env.sim.time for env in vec.envs] == [float(k)] * 3
        assert all(env.sim._settled for env in vec.envs)
    vec.step(action)  # the autoreset step: every episode ended at 3 s
    assert [env.sim.time for env in vec.envs] == [0.0] * 3
    assert not any(env.sim._settled for env in vec.envs)  # the reset's warm apply


def test_native_clusters_whose_buffers_grow_keep_playing_the_single_env_episodes():
    # Under the smallest targets the 2025 nlp pipeline (no drops) queues thousands of
    # requests: each simulator grows its queue between compiled calls, and the batched call
    # must then read the new arrays (by address) rather than the old ones.
    kwargs = {"scenario": "nlp-2025-twitter", "episode_s": 400, "obs_mode": "flat"}
    vec = native(GENERIC_ID, 2, **kwargs)
    singles = [gym.make(GENERIC_ID, **kwargs) for _ in range(2)]
    obs, _ = vec.reset(seed=3)
    for i, env in enumerate(singles):
        assert same(obs[i], env.reset(seed=3 + i)[0])
    smallest = np.zeros(vec.action_space.shape, dtype=np.int64)
    for _ in range(500):
        obs, reward, *_ = vec.step(smallest)
        for i, env in enumerate(singles):
            o, r, *_ = env.step(smallest[i])
            assert same(obs[i], o) and same(float(reward[i]), r)
    assert all(env.sim.queue.shape[2] > 4 * 1024 for env in vec.envs)  # grown several times


def test_native_returned_arrays_are_not_reused():
    vec = native(num_envs=2, episode_s=3, obs_mode="flat")
    obs0, _ = vec.reset(seed=0)
    kept = obs0.copy()
    action = vec.action_space.sample()
    for _ in range(4):  # past an autoreset
        obs, *_ = vec.step(action)
    np.testing.assert_array_equal(obs0, kept)


def test_native_bad_input_is_named():
    with pytest.raises(InvalidActionError, match=r"action\[1\]"):
        vec = native(num_envs=2, episode_s=3)
        vec.reset(seed=0)
        bad = np.zeros((2, *vec.single_action_space.shape), dtype=np.int64)
        bad[1, 1] = 10_000
        vec.step(bad)
    with pytest.raises(InvalidActionError, match="one per cluster"):
        vec.step(np.zeros((3, *vec.single_action_space.shape), dtype=np.int64))
    with pytest.raises(ConfigError, match="num_envs"):
        native(num_envs=0)
    with pytest.raises(ConfigError, match="autoreset_mode"):
        native(num_envs=1, autoreset_mode="same-step")
    with pytest.raises(ConfigError, match="obs_mode"):
        native(num_envs=1, obs_mode="tuple")
    with pytest.raises(ConfigError, match="render"):
        native(num_envs=1, render_mode="ansi")
    with pytest.raises(ConfigError, match="cannot share"):
        InferenceClusterVectorEnv(2, ["video-arxiv-bursty", "nlp-arxiv-bursty"])
    with pytest.raises(gym.error.ResetNeeded):
        native(num_envs=1).step(np.zeros((1, 6), dtype=np.int64))


def test_native_bad_target_changes_no_cluster():
    # Target actions reach the kernel as they are; it checks every row before stepping any.
    vec = native(num_envs=3, episode_s=20)
    vec.reset(seed=0)
    vec.step(vec.action_space.sample())
    unwrapped = vec.unwrapped
    before = (unwrapped._fbuf.copy(), unwrapped._ibuf.copy(), unwrapped._time.copy())
    bad = np.stack([vec.single_action_space.sample() for _ in range(3)]).astype(np.int64)
    bad[2, 0] = -1  # the last row: clusters 0 and 1 come first in the kernel's loop
    with pytest.raises(InvalidActionError, match=r"action\[0\]"):
        vec.step(bad)
    np.testing.assert_array_equal(unwrapped._fbuf, before[0])
    np.testing.assert_array_equal(unwrapped._ibuf, before[1])
    np.testing.assert_array_equal(unwrapped._time, before[2])
    with pytest.raises(InvalidActionError):  # a row one entry short never reaches the kernel
        vec.step(np.zeros((3, bad.shape[1] - 1), dtype=np.int64))


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.float64])
def test_native_actions_of_any_number_dtype_step_alike(dtype):
    # int64 rows go to the kernel as they are, others through the codec: the same episode.
    runs = []
    for kind in (np.int64, dtype):
        vec = native(num_envs=2, episode_s=6, obs_mode="flat")
        vec.reset(seed=3)
        vec.action_space.seed(3)
        steps = []
        for _ in range(8):  # past an autoreset
            action = vec.action_space.sample().astype(kind)
            steps.append(vec.step(action)[:4])
        runs.append(steps)
    for a, b in zip(*runs, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_batched_info_is_gymnasiums_add_info():
    from themis_env.envs.vector import batched_info

    n = 4
    infos = [
        {"a": 1, "b": 0.5, "c": True, "d": np.float32(2.0), "e": np.arange(3), "f": "x"},
        {"b": 1.5, "a": 7, "g": {"h": 1.0, "i": "y"}, "f": None},
        {"g": {"i": "z", "j": 3}, "c": False, "k": np.int64(9)},
    ]
    ids = [3, 0, 2]
    vec = native(num_envs=n, episode_s=3)
    expected: dict = {}
    for i, info in zip(ids, infos, strict=True):
        expected = vec._add_info(expected, info, i)

    def identical(a, b) -> bool:  # object arrays too (``same`` compares numbers only)
        if isinstance(a, dict):
            return type(b) is dict and list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
        return a.dtype == b.dtype and a.shape == b.shape and a.tolist() == b.tolist()

    got = batched_info(n, ids, infos)
    assert identical(got, expected)
    assert got["g"]["_j"].tolist() == [False, False, True, False]  # a key only one env gave
    assert batched_info(n, [], []) == {}
