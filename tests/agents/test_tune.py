"""The Ray Tune sweep: trials as run directories that agents.select reads."""

import json

import pytest
from themis_env.agents.select import SelectionRule, select
from themis_env.agents.tune import main, trials

from themis_env.errors import ConfigError


def test_trials_cross_the_seeds_with_the_grid_in_a_stable_order():
    plan = trials([0, 1], ["n_steps=32,64", "gamma=0.9"])
    assert [t.name for t in plan] == [
        "seed0__n_steps-32__gamma-0.9",
        "seed0__n_steps-64__gamma-0.9",
        "seed1__n_steps-32__gamma-0.9",
        "seed1__n_steps-64__gamma-0.9",
    ]
    assert plan[1].overrides == ("n_steps=64", "gamma=0.9") and plan[3].seed == 1
    with pytest.raises(ConfigError, match="give key=value1,value2"):
        trials([0], ["n_steps"])


@pytest.mark.slow
def test_two_tiny_trials_on_a_local_ray_are_runs_select_can_read(tmp_path):
    pytest.importorskip("ray.tune")
    import ray

    out = tmp_path / "sweep"
    train_args = [
        "--algo", "ppo", "--scenario", "smoke-video", "--eval-scenario", "smoke-video",
        "--timesteps", "64", "--n-envs", "1", "--env-kwargs", "episode_s=20",
        "--hyperparams", "n_steps=32", "batch_size=32", "n_epochs=1",
        "--eval-freq", "32", "--checkpoint-freq", "32", "--no-plot", "--verbose", "0",
    ]  # fmt: skip
    code = main(["--out", str(out), "--seeds", "0", "1", "--cpus", "2", "--", *train_args])
    assert code == 0
    assert not ray.is_initialized()  # the Ray it started is shut down
    summary = json.loads((out / "sweep.json").read_text())
    assert [t["trial"] for t in summary["trials"]] == ["seed0", "seed1"]
    for row in summary["trials"]:
        assert row["timesteps"] == 64 and "val_slo_violation_rate" in row
        run = json.loads((out / row["trial"] / "run.json").read_text())
        assert run["seed"] == int(row["trial"][-1]) and "--seed" in run["command"]
    choice = select(out / "seed1", SelectionRule(minimise="violations"))
    assert choice["chosen"]["agent"].endswith(".zip")
