"""The shipped trained agent: its files, its record, and one episode on the smoke scenario."""

import json

import gymnasium as gym
import pytest

pytest.importorskip("stable_baselines3")

import themis_env  # noqa: E402,F401
from agents.artifacts import agent_files, read_manifest  # noqa: E402
from agents.evaluate import load_agent, run_episode  # noqa: E402
from themis_env.resources import repo_root  # noqa: E402

pytestmark = pytest.mark.sb3

ZOO = (repo_root() or ".") / "agents" / "zoo" / "ppo-video-arxiv"  # type: ignore[operator]
AGENT = ZOO / "ppo.zip"


def test_the_shipped_agent_has_its_files_and_training_record():
    files = agent_files(AGENT)
    for path in (files.model, files.vecnormalize, files.manifest, ZOO / "training_curve.png"):
        assert path.is_file(), path
    manifest = read_manifest(AGENT)
    assert manifest["algo"] == "ppo"
    assert manifest["command"].startswith("python -m agents.train --algo ppo ")
    assert manifest["wall_time_s"] <= 30 * 60 * 1.02  # the 30-minute training budget
    assert manifest["torch_threads"] == 1
    assert manifest["interface"]["pipeline"] == "themis-arxiv/video"
    run = json.loads((ZOO / "run.json").read_text())
    assert run["seed"] == manifest["seed"] and run["status"] == "done"


def test_the_shipped_agent_runs_an_episode_deterministically_on_the_default_env():
    results = []
    for _ in range(2):
        env = gym.make("themis_env/InferenceCluster-v0", scenario="smoke-video")
        policy = load_agent(str(AGENT), env)
        results.append(run_episode(policy, env, seed=0))
    a, b = results
    assert a["steps"] == 120
    assert 0.0 <= a["slo_violation_rate"] <= 1.0 and 0.0 < a["mean_cores"] <= 32.0
    assert (a["slo_violation_rate"], a["mean_cores"], a["return"]) == (
        b["slo_violation_rate"],
        b["mean_cores"],
        b["return"],
    )
    assert a["horizontal_actions"] + a["vertical_actions"] > 0
