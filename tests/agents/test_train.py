"""Each algorithm trains a few hundred steps, saves, reloads and acts; runs are reproducible."""

import json

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")

from themis_env.agents.artifacts import agent_files, read_manifest  # noqa: E402
from themis_env.agents.curves import read_monitor  # noqa: E402
from themis_env.agents.evaluate import load_agent, required_env_kwargs  # noqa: E402
from themis_env.agents.train import main, parse_args, train  # noqa: E402

import themis_env  # noqa: E402,F401
from tests.agents.helpers import tiny_args  # noqa: E402
from themis_env.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.sb3

# Tiny budgets: enough for at least one gradient update of every algorithm.
TINY = {
    "ppo": ["n_steps=64", "batch_size=64", "n_epochs=1"],
    "a2c": ["n_steps=8"],
    "dqn": ["learning_starts=64", "buffer_size=1000", "batch_size=32"],
    "sac": [
        "learning_starts=64",
        "buffer_size=1000",
        "batch_size=32",
        "train_freq=4",
        "gradient_steps=1",
    ],
    "td3": ["learning_starts=64", "buffer_size=1000", "batch_size=32"],
    "maskable_ppo": ["n_steps=64", "batch_size=64", "n_epochs=1"],
}


def _args(tmp_path, algo, hyperparams=None, **extra):
    return tiny_args(tmp_path, algo, TINY[algo] if hyperparams is None else hyperparams, **extra)


@pytest.mark.parametrize("algo", sorted(TINY))
def test_each_algorithm_trains_saves_reloads_and_acts(tmp_path, algo):
    result = train(_args(tmp_path, algo), argv=["--algo", algo])
    files = agent_files(result.final)
    assert files.model.is_file() and files.manifest.is_file()
    assert files.vecnormalize.is_file() and files.weights.is_file() and files.obs_rms.is_file()
    manifest = read_manifest(result.final)
    assert manifest["algo"] == algo
    assert manifest["seed"] == 1 and manifest["env_seeds"] == [1, 2]
    assert manifest["timesteps_trained"] >= 256
    assert manifest["command"] == f"python -m themis_env.agents.train --algo {algo}"
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["status"] == "done"

    # Reloaded on the env the harness would build, and on a default (dict, target) env.
    for kwargs in (required_env_kwargs(result.final), {}):
        env = gym.make(
            "themis_env/InferenceCluster-v0", scenario="smoke-video", episode_s=20, **kwargs
        )
        policy = load_agent(str(result.final), env)  # from the safe files, untrusted
        legacy = _legacy_copy(result.final, tmp_path / "legacy")
        trusted = load_agent(str(legacy), env, trust=True)  # unpickled, as before
        obs, _ = env.reset(seed=0)
        for _ in range(20):
            action, _ = policy.predict(obs)
            np.testing.assert_array_equal(action, trusted.predict(obs)[0])
            assert env.action_space.contains(np.asarray(action, dtype=env.action_space.dtype))
            obs, _, _, truncated, info = env.step(action)
        assert truncated and "episode_kpis" in info


def _legacy_copy(path, folder):
    """The agent's zip, pickle and manifest without its safe files: an agent saved before them."""
    folder.mkdir(exist_ok=True)
    files = agent_files(path)
    for src in (files.model, files.vecnormalize):
        (folder / src.name).write_bytes(src.read_bytes())
    manifest = read_manifest(path)
    for key in ("policy", "obs_normalisation"):
        manifest.pop(key)
    (folder / files.manifest.name).write_text(json.dumps(manifest))
    return folder / files.model.name


def test_evaluation_checkpoints_export_and_curve(tmp_path):
    pytest.importorskip("matplotlib")
    export = tmp_path / "zoo" / "tiny"
    args = _args(
        tmp_path,
        "ppo",
        eval_scenario=["smoke-video"],
        eval_freq=128,
        checkpoint_freq=128,
        export=str(export),
        plot=True,
    )
    result = train(args, argv=[])
    assert result.best is not None and result.best.is_file()
    assert sorted(p.name for p in (result.run_dir / "checkpoints").glob("*.zip")) == [
        "ckpt_128.zip",
        "ckpt_256.zip",
    ]
    first, second = (
        read_manifest(result.run_dir / "checkpoints" / f"ckpt_{n}.zip") for n in (128, 256)
    )
    assert 0 < first["wall_time_s"] <= second["wall_time_s"]  # training time so far
    lines = (result.run_dir / "eval" / "kpis.jsonl").read_text().splitlines()
    kpis = [json.loads(line) for line in lines]
    assert [k["timesteps"] for k in kpis] == [128, 256]
    assert all(0.0 <= k["slo_violation_rate"] <= 1.0 and k["mean_cores"] > 0 for k in kpis)
    best = read_manifest(result.best)
    assert best["selected_by"]["timesteps"] in (128, 256)
    for name in ("ppo.zip", "ppo.vecnormalize.pkl", "ppo.json", "training_curve.png", "kpis.jsonl"):
        assert (export / name).is_file(), name
    exported = read_manifest(export / "ppo.zip")
    assert exported["run_timesteps"] == result.timesteps
    assert exported["stopped_by_time_budget"] is False
    assert exported["wall_time_s"] == round(result.wall_time_s, 1)
    assert (result.run_dir / "training_curve.png").stat().st_size > 1000


def _weights(path):
    from stable_baselines3 import PPO

    return PPO.load(str(path), device="cpu").policy.state_dict()


def test_same_seed_gives_the_same_agent_and_another_seed_does_not(tmp_path):
    runs = [
        train(_args(tmp_path / str(i), "ppo", seed=seed, timesteps=128), argv=[])
        for i, seed in enumerate((5, 5, 6))
    ]
    a, b, c = (_weights(r.final) for r in runs)
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert not all(np.array_equal(a[k].numpy(), c[k].numpy()) for k in a)
    monitor = [(r.run_dir / "monitor" / "0.monitor.csv").read_text().splitlines()[2:] for r in runs]
    returns = [[line.split(",")[:2] for line in m] for m in monitor]
    assert returns[0] == returns[1]


def test_algorithm_and_action_space_must_fit(tmp_path):
    args = _args(tmp_path, "sac", env_kwargs=["action_mode=target"])
    with pytest.raises(ConfigError, match="sac needs a box action space"):
        train(args, argv=[])


def test_command_line_parses_into_args_and_reports_errors(tmp_path, capsys):
    args = parse_args(
        ["--algo", "dqn", "--scenario", "a", "--scenario", "b", "-params", "gamma=0.9"]
    )
    assert args.algo == "dqn" and args.scenario == ["a", "b"] and args.hyperparams == ["gamma=0.9"]
    assert parse_args([]).scenario == []  # decided with the env id and hyperparameters
    assert main(["--algo", "ppo3", "--out", str(tmp_path / "x"), "--no-plot"]) == 2
    assert "unknown algorithm 'ppo3'" in capsys.readouterr().err


def test_time_budget_stops_training_and_is_recorded(tmp_path):
    result = train(_args(tmp_path, "ppo", timesteps=100_000, time_budget_min=1e-4), argv=[])
    manifest = read_manifest(result.final)
    assert manifest["stopped_by_time_budget"] is True
    assert result.timesteps < 100_000


def _obs_stats(path):
    import pickle

    with open(agent_files(path).vecnormalize, "rb") as f:
        return pickle.load(f).obs_rms


def test_trained_agent_continues_with_its_weights_statistics_and_new_reward(tmp_path):
    parent = train(_args(tmp_path / "parent", "ppo", timesteps=128), argv=[])
    parent_stats = _obs_stats(parent.final)
    child_args = _args(
        tmp_path / "child",
        "ppo",
        timesteps=128,
        checkpoint_freq=64,
        trained_agent=str(parent.final),
        trust_agent=True,
        hyperparams=[*TINY["ppo"], "learning_rate=1e-5"],
        env_kwargs=["episode_s=60", "reward={w_slo: 1.0, w_cost: 0.5}"],
    )
    child = train(child_args, argv=[])
    manifest = read_manifest(child.final)
    assert manifest["trained_agent"] == str(parent.final)
    assert manifest["env_kwargs"]["reward"] == {"w_slo": 1.0, "w_cost": 0.5}
    assert manifest["timesteps_trained"] == 256  # counted on from the parent's 128
    run = json.loads((child.run_dir / "run.json").read_text())
    assert run["start_timesteps"] == 128
    steps, _ = read_monitor(child.run_dir)  # training episodes count on from the parent's too
    assert len(steps) and steps[0] > 128
    checkpoints = sorted(p.name for p in (child.run_dir / "checkpoints").glob("*.zip"))
    assert checkpoints == ["ckpt_192.zip", "ckpt_256.zip"]
    assert manifest["hyperparams"]["algo_kwargs"]["learning_rate"] == 1e-5
    from stable_baselines3 import PPO

    assert PPO.load(str(child.final), device="cpu").learning_rate == 1e-5  # this run's setting
    # The observation statistics went on from the parent's (fresh ones would count as many).
    assert _obs_stats(child.final).count > 1.9 * parent_stats.count
    # Fine-tuning moved the parent's weights, a little.
    a, b = _weights(parent.final), _weights(child.final)
    assert a.keys() == b.keys()
    assert not all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_trained_agent_must_fit_the_training_env(tmp_path):
    parent = train(_args(tmp_path / "parent", "ppo", timesteps=64), argv=[])
    args = _args(
        tmp_path / "child",
        "ppo",
        scenario=["sentiment-arxiv-fluctuating"],
        trained_agent=str(parent.final),
        trust_agent=True,
    )
    with pytest.raises(ConfigError, match="--trained-agent .* another interface: pipeline"):
        train(args, argv=[])


def test_trained_agent_is_unpickled_only_when_trusted(tmp_path):
    parent = train(_args(tmp_path / "parent", "ppo", timesteps=64), argv=[])
    args = _args(tmp_path / "child", "ppo", trained_agent=str(parent.final))
    with pytest.raises(ConfigError, match="unpickles its zip.*add --trust-agent"):
        train(args, argv=[])
    assert not (tmp_path / "child" / "ppo" / "ppo.zip").exists()
    assert parse_args(["--trained-agent", "x.zip", "--trust-agent"]).trust_agent is True


@pytest.mark.parametrize(
    ("env_id", "given", "expected"),
    [
        ("themis_env/Nlp-Steady-v0", [], ["nlp-arxiv-steady"]),  # the preset's own
        ("themis_env/Sentiment-Twitter-v0", [], ["sentiment-arxiv-twitter"]),
        ("themis_env/InferenceCluster-v0", [], ["video-arxiv-train"]),  # ppo.yml's, as before
        ("themis_env/Nlp-Steady-v0", ["smoke-video"], ["smoke-video"]),  # an explicit one wins
    ],
)
def test_a_preset_id_trains_on_its_own_scenario_unless_one_is_given(env_id, given, expected):
    from themis_env.agents.hyperparams import load_hyperparams
    from themis_env.agents.train import Args, _scenarios

    hp = load_hyperparams("ppo", env_id)
    assert _scenarios(Args(env=env_id, scenario=given), hp) == expected
