"""The shipped trained agents: their files, their records, one episode on the smoke scenario."""

import json

import gymnasium as gym
import pytest

pytest.importorskip("stable_baselines3")

from themis_env.agents.artifacts import agent_files, read_manifest  # noqa: E402
from themis_env.agents.evaluate import load_agent, required_env_kwargs, run_episode  # noqa: E402

import themis_env  # noqa: E402,F401
from themis_env.resources import repo_root  # noqa: E402

pytestmark = pytest.mark.sb3

ZOO = (repo_root() or ".") / "agents" / "zoo"  # type: ignore[operator]
AGENTS = [
    "ppo-video-arxiv",
    "ppo-video-arxiv-lean",
    "ppo-video-arxiv-twophase",
    "ppo-video-arxiv-lowcost",
]
# Trained in ≤ 30 minutes, parents included.
WITHIN_BUDGET = {"ppo-video-arxiv", "ppo-video-arxiv-twophase", "ppo-video-arxiv-lowcost"}


def _lineage_minutes(manifest: dict) -> float:
    """Training wall time of the agent and of every agent it was continued from."""
    total = manifest["wall_time_s"]
    parent = manifest.get("trained_agent")
    while parent:
        record = read_manifest(ZOO.parent.parent / parent)  # recorded from the repository root
        total += record["wall_time_s"]
        parent = record.get("trained_agent")
    return total / 60


@pytest.mark.parametrize("name", AGENTS)
def test_the_shipped_agent_has_its_files_and_training_record(name):
    agent = ZOO / name / "ppo.zip"
    files = agent_files(agent)
    curve = ZOO / name / "training_curve.png"
    for path in (files.model, files.vecnormalize, files.manifest, files.weights, curve):
        assert path.is_file(), path
    manifest = read_manifest(agent)
    assert manifest["algo"] == "ppo"
    # Agents trained before the package moved under themis_env recorded the old module name.
    assert manifest["command"].startswith(
        ("python -m themis_env.agents.train --algo ppo ", "python -m agents.train --algo ppo ")
    )
    assert manifest["torch_threads"] == 1
    assert manifest["interface"]["pipeline"] == "themis-arxiv/video"
    run = json.loads((ZOO / name / "run.json").read_text())
    assert run["seed"] == manifest["seed"] and run["status"] == "done"
    # Training time, parents included: within the 30-minute budget, or stated in the README.
    minutes = _lineage_minutes(manifest)
    if name in WITHIN_BUDGET:
        assert minutes <= 30 * 1.02
    else:
        assert f"{minutes:.1f} min" in (ZOO / name / "README.md").read_text()


@pytest.mark.parametrize("name", AGENTS)
def test_the_shipped_agent_runs_an_episode_deterministically_on_the_default_env(name):
    results = []
    for _ in range(2):
        env = gym.make("themis_env/InferenceCluster-v0", scenario="smoke-video")
        policy = load_agent(str(ZOO / name / "ppo.zip"), env)
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


def test_a_shipped_agent_loads_outside_the_checkout(tmp_path):
    """The saved models name schedules of the package's old top-level module ``agents``.

    From the checkout's root that folder is importable by accident; from anywhere else only the
    installed names are, so the loader must not need the old ones.
    """
    import subprocess
    import sys

    script = (
        "import gymnasium as gym, sys, themis_env\n"
        "from themis_env.agents.evaluate import load_agent\n"
        "env = gym.make('themis_env/InferenceCluster-v0', scenario='smoke-video', episode_s=5,"
        " action_mode='delta', obs_mode='flat')\n"
        f"policy = load_agent({str(ZOO / 'ppo-video-arxiv' / 'ppo.zip')!r}, env)\n"
        "obs, _ = env.reset(seed=0)\n"
        "policy.predict(obs)\n"
        "assert 'agents' not in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr


GENERALIST = ZOO / "ppo-generalist" / "ppo.zip"


GENERALIST_VARIANTS = ZOO / "ppo-generalist-variants" / "ppo.zip"
HEADROOM = ZOO / "ppo-themis-headroom" / "ppo.zip"
EXPERTS = ZOO / "ppo-themis-experts" / "ppo.zip"
EXPERTS_MBB = ZOO / "ppo-themis-experts-mbb" / "ppo.zip"
EXPERTS_JITTER = ZOO / "ppo-themis-experts-jitter-steady" / "ppo.zip"
GENERALISTS = {  # agent, its layout, the id it is checked on, scenarios it must act on
    "ppo-generalist": (
        GENERALIST,
        "padded-stages",
        "themis_env/InferenceCluster-v0",
        ["smoke-video", "sentiment-2025-twitter", "nlp-arxiv-twitter", "nlp-2025-twitter"],
    ),
    "ppo-generalist-variants": (
        GENERALIST_VARIANTS,
        "padded-variants",
        "themis_env/InferenceCluster-v1",
        ["infadapter-resnet", "video-arxiv-variants", "ipa-video-bursty", "smoke-video"],
    ),
    "ppo-themis-headroom": (
        HEADROOM,
        "themis-headroom-v1",
        "themis_env/InferenceCluster-v1",
        ["infadapter-resnet", "video-arxiv-variants", "smoke-video", "nlp-2025-twitter"],
    ),
    "ppo-themis-experts": (
        EXPERTS,
        "themis-experts-v1",
        "themis_env/InferenceCluster-v1",
        ["infadapter-resnet", "video-arxiv-variants", "smoke-video", "nlp-2025-twitter"],
    ),
    "ppo-themis-experts-mbb": (
        EXPERTS_MBB,
        "themis-experts-v1",
        "themis_env/InferenceCluster-v1",
        ["infadapter-resnet", "video-arxiv-variants", "smoke-video", "sentiment-2025-twitter"],
    ),
    "ppo-themis-experts-jitter-steady": (
        EXPERTS_JITTER,
        "themis-experts-v1",
        "themis_env/InferenceCluster-v1",
        ["infadapter-resnet", "ipa-video-bursty", "smoke-video", "nlp-arxiv-twitter"],
    ),
}


@pytest.mark.parametrize("name", list(GENERALISTS))
def test_each_generalist_was_trained_within_an_hour_through_its_layout(name):
    path, layout, _, _ = GENERALISTS[name]
    manifest = read_manifest(path)
    assert manifest["interface"]["layout"] == layout
    if layout in ("padded-variants", "themis-headroom-v1", "themis-experts-v1"):
        assert manifest["interface"]["max_variants"] == 5
    assert manifest["run_wall_time_s"] <= 60 * 60
    readme = (path.parent / "README.md").read_text()
    assert f"{manifest['run_wall_time_s'] / 60:.1f} min" in readme
    for file in (agent_files(path).weights, path.parent / "training_curve.png"):
        assert file.is_file(), file


@pytest.mark.parametrize(
    ("name", "scenario"),
    [(name, scenario) for name, entry in GENERALISTS.items() for scenario in entry[3]],
)
@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_each_generalist_acts_deterministically_on_every_pipeline_it_covers(name, scenario):
    path, _, env_id, _ = GENERALISTS[name]
    results = []
    for _ in range(2):
        env = gym.make(env_id, scenario=scenario, episode_s=60, **required_env_kwargs(path))
        policy = load_agent(str(path), env)
        results.append(run_episode(policy, env, seed=0))
    a, b = results
    assert a["steps"] == 60 / env.unwrapped.decision_interval_s
    assert (a["slo_violation_rate"], a["mean_cores"]) == (b["slo_violation_rate"], b["mean_cores"])
