"""Loading an agent runs no code from its files; converted agents act as the legacy ones did."""

import base64
import json
import pickle
import shutil
import sys
import zipfile

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from themis_env.agents.artifacts import agent_files, read_manifest  # noqa: E402
from themis_env.agents.convert import convert_agent  # noqa: E402
from themis_env.agents.evaluate import load_agent, required_env_kwargs  # noqa: E402
from themis_env.agents.safe_format import space_from_json, space_to_json  # noqa: E402

import themis_env  # noqa: E402,F401
from themis_env.errors import PolicyError  # noqa: E402
from themis_env.evaluation.registry import TRUST_VAR, make_policy  # noqa: E402
from themis_env.resources import repo_root  # noqa: E402

pytestmark = pytest.mark.sb3

ENV_ID = "themis_env/InferenceCluster-v0"
ZOO = (repo_root() or ".") / "agents" / "zoo"  # type: ignore[operator]
AGENTS = sorted(p.name for p in ZOO.iterdir() if (p / "ppo.json").is_file())
SAFE_KEYS = ("policy", "obs_normalisation")


class _CreatesFile:
    """Unpickling this opens (so creates) the file ``path``: a stand-in for any command."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _copy_agent(name, dest, legacy=False):
    """A copy of a shipped agent's files; ``legacy``: without its safe files (as before)."""
    dest.mkdir(parents=True, exist_ok=True)
    files = agent_files(ZOO / name / "ppo.zip")
    for path in (files.model, files.vecnormalize, files.manifest, files.weights, files.obs_rms):
        if not (legacy and path in (files.weights, files.obs_rms)):
            shutil.copy(path, dest / path.name)
    if legacy:
        manifest = json.loads((dest / "ppo.json").read_text())
        for key in SAFE_KEYS:
            manifest.pop(key)
        (dest / "ppo.json").write_text(json.dumps(manifest))
    return dest / "ppo.zip"


def _plant(zip_path, marker):
    """Replace the pickled VecNormalize and a cloudpickled field of the zip by the payload."""
    payload = pickle.dumps(_CreatesFile(marker))
    agent_files(zip_path).vecnormalize.write_bytes(payload)
    with zipfile.ZipFile(zip_path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    data = json.loads(entries["data"])
    data["observation_space"] = {":serialized:": base64.b64encode(payload).decode()}
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(zip_path, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)


def _env(path, **overrides):
    kwargs = {**required_env_kwargs(path), **overrides}
    return gym.make(ENV_ID, scenario="smoke-video", **kwargs).unwrapped


def test_a_crafted_legacy_agent_is_refused_before_anything_is_unpickled(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_VAR, raising=False)
    marker = tmp_path / "ran"
    path = _copy_agent("ppo-video-arxiv", tmp_path / "agent", legacy=True)
    _plant(path, marker)
    env = _env(path)
    with pytest.raises(PolicyError, match="only the pickled files.*--trust-agent"):
        load_agent(str(path), env)
    with pytest.raises(PolicyError, match="--trust-agent"):
        make_policy(f"agent:{path}", env)  # what a leaderboard or themis-env evaluate calls
    assert not marker.exists()
    # The payload is live: trusting the agent runs it (which is why trust is asked for).
    with pytest.raises(Exception):  # noqa: B017 - the payload is not a model
        load_agent(str(path), env, trust=True)
    assert marker.exists()


def test_a_safe_agent_never_reads_its_pickled_files(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_VAR, raising=False)
    marker = tmp_path / "ran"
    path = _copy_agent("ppo-video-arxiv", tmp_path / "agent")
    _plant(path, marker)
    env = _env(path)
    policy = make_policy(f"agent:{path}", env)
    obs, _ = env.reset(seed=0)
    env.step(policy.predict(obs)[0])
    assert not marker.exists()


def test_a_foreign_wrapper_is_refused_before_it_is_imported(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    (tmp_path / "crafted_wrapper_mod.py").write_text(
        f"open({str(marker)!r}, 'w')\nWrapper = object\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = _copy_agent("ppo-video-arxiv", tmp_path / "agent")
    manifest = json.loads((tmp_path / "agent" / "ppo.json").read_text())
    manifest["env_wrapper"].append("crafted_wrapper_mod.Wrapper")
    (tmp_path / "agent" / "ppo.json").write_text(json.dumps(manifest))
    with pytest.raises(PolicyError, match="crafted_wrapper_mod.Wrapper.*not among the project"):
        load_agent(str(path), _env(path))
    assert not marker.exists() and "crafted_wrapper_mod" not in sys.modules


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda m: m["policy"]["kwargs"].update(activation_fn={"class": "os.system"}),
            "'os.system', which is not in the allow-list: .*torch.nn.Tanh",
        ),
        (lambda m: m["policy"].update({"class": "os:system"}), "not one of PPO's policies"),
        (lambda m: m["policy"].update(weights="../ppo.policy.npz"), "must be an .npz file name"),
        (
            lambda m: m["policy"]["observation_space"].update(type="Tuple"),
            "space type 'Tuple' is not allowed",
        ),
    ],
)
def test_a_manifest_names_only_allowed_classes_and_files(tmp_path, edit, message):
    path = _copy_agent("ppo-video-arxiv", tmp_path / "agent")
    manifest = json.loads((tmp_path / "agent" / "ppo.json").read_text())
    edit(manifest)
    (tmp_path / "agent" / "ppo.json").write_text(json.dumps(manifest))
    with pytest.raises(PolicyError, match=message):
        load_agent(str(path), _env(path))


def test_weights_holding_an_object_array_are_refused_unread(tmp_path):
    marker = tmp_path / "ran"
    path = _copy_agent("ppo-video-arxiv", tmp_path / "agent")
    crafted = np.empty(1, dtype=object)
    crafted[0] = _CreatesFile(marker)
    np.savez(agent_files(path).weights, **{"action_net.bias": crafted})
    with pytest.raises(PolicyError, match="not a plain .npz"):
        load_agent(str(path), _env(path))
    assert not marker.exists()


@pytest.mark.parametrize("name", AGENTS)
def test_the_converted_agent_acts_exactly_as_the_legacy_one(tmp_path, name):
    legacy_path = _copy_agent(name, tmp_path / "legacy", legacy=True)
    env = _env(legacy_path, episode_s=60)
    legacy = load_agent(str(legacy_path), env, trust=True)
    safe = load_agent(str(ZOO / name / "ppo.zip"), env)
    obs, _ = env.reset(seed=3)
    for _ in range(60):
        action = safe.predict(obs)[0]
        np.testing.assert_array_equal(action, legacy.predict(obs)[0])
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break


def test_conversion_needs_trust_and_reproduces_the_shipped_files(tmp_path):
    path = _copy_agent("ppo-video-arxiv-lean", tmp_path / "agent", legacy=True)
    with pytest.raises(PolicyError, match="unpickles it.*--trust-agent"):
        convert_agent(path)
    assert not agent_files(path).weights.exists()
    files = convert_agent(path, trust=True)
    shipped = agent_files(ZOO / "ppo-video-arxiv-lean" / "ppo.zip")
    assert {k: read_manifest(path)[k] for k in SAFE_KEYS} == {
        k: read_manifest(shipped.model)[k] for k in SAFE_KEYS
    }
    for ours, theirs in ((files.weights, shipped.weights), (files.obs_rms, shipped.obs_rms)):
        with np.load(ours) as a, np.load(theirs) as b:
            assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)


def test_a_safe_agent_acts_without_its_zip_and_its_identity_follows_its_weights(tmp_path):
    from themis_env.agents.scheme import AGENT_SCHEME

    path = _copy_agent("ppo-video-arxiv", tmp_path / "agent")
    ref = f"agent:{path}"
    before = AGENT_SCHEME.identity(ref)
    path.unlink()
    agent_files(path).vecnormalize.unlink()
    AGENT_SCHEME.check(ref)
    assert AGENT_SCHEME.identity(ref) == before  # the zip was never what acted
    AGENT_SCHEME.build(ref, _env(path))
    shutil.copy(agent_files(ZOO / "ppo-video-arxiv-lean" / "ppo.zip").weights, path.parent)
    assert AGENT_SCHEME.identity(ref) != before


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Box(
            np.array([0.0, -np.inf], np.float32), np.array([0.1, np.inf], np.float32), (2,)
        ),
        gym.spaces.Box(-1.0, 1.0, (2, 3), np.float64),
        gym.spaces.Discrete(7, start=-2),
        gym.spaces.MultiDiscrete([3, 5, 4]),
        gym.spaces.Dict(
            {"b": gym.spaces.Discrete(2), "a": gym.spaces.Box(0, 32, (3,), np.float32)}
        ),
    ],
)
def test_spaces_round_trip_through_json(space):
    again = space_from_json(json.loads(json.dumps(space_to_json(space))))
    assert again == space and again.dtype == space.dtype
    if isinstance(space, gym.spaces.Dict):
        assert list(again.spaces) == list(space.spaces)


def test_the_command_line_asks_for_trust_agent_before_unpickling(tmp_path, monkeypatch, capsys):
    from themis_env.cli import main

    monkeypatch.setenv(TRUST_VAR, "0")  # restored after the test (the CLI sets it)
    marker = tmp_path / "ran"
    crafted = _copy_agent("ppo-video-arxiv", tmp_path / "crafted", legacy=True)
    _plant(crafted, marker)
    legacy = _copy_agent("ppo-video-arxiv", tmp_path / "legacy", legacy=True)

    def evaluate(path, *extra):
        argv = ["evaluate", "--policy", f"agent:{path}", "--scenario", "smoke-video"]
        return main([*argv, "--episode-s", "5", "--no-record", "-q", *extra])

    assert evaluate(crafted) != 0
    assert "--trust-agent" in capsys.readouterr().out  # the failed run says why
    assert not marker.exists()
    assert evaluate(legacy, "--trust-agent") == 0
