from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from tests.evaluation.helpers import HOLD, HoldPolicy
from themis_env.envs.inference_cluster import InferenceClusterEnv
from themis_env.errors import PolicyError
from themis_env.evaluation import registry
from themis_env.evaluation.policies import (
    build_policy,
    env_modes,
    policy_identity,
    validate_policy_ref,
)
from themis_env.evaluation.runner import RunSpec, run_episode

SHIPPED = [
    "fa2-high",
    "fa2-low",
    "horizontal",
    "hpa",
    "infadapter",
    "ipa",
    "msp",
    "oracle",
    "random",
    "rim-high",
    "static",
    "themis",
    "themis-experts",
    "themis-headroom",
    "themis-variants",
    "vertical",
    "vpa",
]


def install_fake_distribution(root: Path, entry_points: str) -> None:
    """A dist-info folder as pip writes it, for a distribution that ships only entry points."""
    info = root / "fake_policies-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-policies\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture
def fake_dist(tmp_path, monkeypatch):
    """Installs a fake distribution on sys.path; its entry points are read afresh."""

    def install(entry_points: str) -> None:
        install_fake_distribution(tmp_path / "site", entry_points)
        monkeypatch.syspath_prepend(str(tmp_path / "site"))
        registry.reload_entry_points()

    yield install
    registry.reload_entry_points()  # the next lookup reads sys.path without the fake


@pytest.fixture
def clean_registrations(monkeypatch):
    """In-process registrations made by a test vanish after it."""
    monkeypatch.setitem(registry._registered, registry.POLICY_GROUP, {})
    monkeypatch.setitem(registry._registered, registry.SCHEME_GROUP, {})


def test_a_distributions_entry_point_adds_a_policy_the_harness_finds(fake_dist) -> None:
    fake_dist(
        """
        [themis_env.policies]
        fake-hold = tests.evaluation.helpers:HoldPolicy
        """
    )
    assert "fake-hold" in registry.policy_names()
    validate_policy_ref("fake-hold")
    assert policy_identity("fake-hold") == "fake-hold"
    assert env_modes("fake-hold", None, None) == ("target", "dict")
    env = InferenceClusterEnv("smoke-video", episode_s=5)
    assert isinstance(build_policy("fake-hold", env), HoldPolicy)
    from themis_env.baselines import make_policy, policy_names

    assert "fake-hold" in policy_names()
    assert isinstance(make_policy("fake-hold", env), HoldPolicy)
    # A leaderboard run by that name takes the same decisions as the class named directly.
    by_name = run_episode(RunSpec("smoke-video", 0, "fake-hold", overrides={"episode_s": 5}))
    by_class = run_episode(RunSpec("smoke-video", 0, HOLD, overrides={"episode_s": 5}))
    assert by_name.status == "ok", by_name.error
    assert by_name.actions == by_class.actions


def test_a_name_claimed_twice_fails_when_used(fake_dist) -> None:
    fake_dist(
        """
        [themis_env.policies]
        hpa = tests.evaluation.helpers:HoldPolicy
        """
    )
    with pytest.raises(PolicyError, match="'hpa' is claimed by several targets"):
        build_policy("hpa", InferenceClusterEnv("smoke-video"))
    # Other names are unaffected.
    assert registry.load_policy("vpa").name == "vpa"


def test_shipped_entry_points_name_the_policies_they_build() -> None:
    declared = metadata.entry_points(group=registry.POLICY_GROUP)
    ours = sorted(ep.name for ep in declared if ep.dist and ep.dist.name == "themis-env")
    assert ours == SHIPPED
    for name in ours:
        assert registry.load_policy(name).name == name
    from themis_env.agents.scheme import AGENT_SCHEME

    assert registry.scheme_names() == ["agent"]
    assert registry.scheme_for("agent:x.zip") is AGENT_SCHEME
    assert registry.scheme_for("tests.evaluation.helpers:HoldPolicy") is None


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(PolicyError, match=r"unknown policy 'themsi'\. Did you mean 'themis'"):
        registry.make_policy("themsi", None)
    with pytest.raises(PolicyError, match="Known policies: fa2-high, fa2-low, horizontal, hpa"):
        registry.load_policy("nothing-like-it")
    with pytest.raises(PolicyError, match="write 'module:Class'"):
        registry.load_policy(":Class")


@pytest.mark.usefixtures("clean_registrations")
def test_register_policy_takes_a_class_or_a_target_once() -> None:
    registry.register_policy("hold", HoldPolicy)
    registry.register_policy("hold", HOLD)  # the same class spelled as its target: a no-op
    assert registry.load_policy("hold") is HoldPolicy
    with pytest.raises(PolicyError, match="already registered"):
        registry.register_policy("hold", "tests.evaluation.helpers:ReactivePolicy")
    for bad in ("", "a:b", " hold"):
        with pytest.raises(PolicyError, match="must be a non-empty string without ':'"):
            registry.register_policy(bad, HoldPolicy)
    with pytest.raises(PolicyError, match="must be 'module:attr'"):
        registry.register_policy("hold2", "tests.evaluation.helpers")


class RecordingScheme:
    """A scheme ``fixed:N`` whose policy holds N replicas per stage (for dispatch tests)."""

    def check(self, ref: str) -> None:
        if not ref.partition(":")[2].isdigit():
            raise PolicyError(f"policy {ref!r}: write 'fixed:N'")

    def identity(self, ref: str) -> str:
        return f"{ref}#v1"

    def env_modes(self, ref: str) -> dict[str, str]:
        return {"action_mode": "delta"}

    def mismatches(self, ref: str, env) -> list[str]:
        return [] if env.n_stages == 2 else ["needs 2 stages"]

    def build(self, ref: str, env, **params) -> HoldPolicy:
        return HoldPolicy(env, replicas=int(ref.partition(":")[2]), **params)


@pytest.mark.usefixtures("clean_registrations")
def test_a_registered_scheme_handles_its_references() -> None:
    from themis_env.evaluation.policies import agent_mismatches

    registry.register_scheme("fixed", RecordingScheme())
    validate_policy_ref("fixed:2")
    with pytest.raises(PolicyError, match="write 'fixed:N'"):
        validate_policy_ref("fixed:two")
    assert policy_identity("fixed:2") == "fixed:2#v1"
    assert env_modes("fixed:2", None, "flat") == ("delta", "flat")
    assert agent_mismatches("fixed:2", "smoke-video", {}, "target", "dict") == []
    assert agent_mismatches("fixed:2", "nlp-arxiv-bursty", {}, "target", "dict") == [
        "needs 2 stages"
    ]
    policy = build_policy("fixed:3", InferenceClusterEnv("smoke-video"))
    assert isinstance(policy, HoldPolicy) and policy.params == {"replicas": 3}
    registry.register_scheme("broken", "tests.evaluation.helpers:HoldPolicy")
    with pytest.raises(PolicyError, match="is not a PolicyScheme"):
        validate_policy_ref("broken:x")


def test_importing_the_core_imports_no_policy_code() -> None:
    code = textwrap.dedent(
        """
        import sys
        import themis_env, themis_env.envs, themis_env.evaluation, themis_env.cli
        from themis_env.evaluation.policies import env_modes, validate_policy_ref
        from themis_env.evaluation.registry import policy_names, scheme_for

        assert "themis" in policy_names()
        validate_policy_ref("themis")
        env_modes("hpa", None, None)
        scheme_for("tests.helpers:Nothing")
        loaded = [m for m in sys.modules if m.startswith(("themis_env.baselines",
                                                          "themis_env.agents"))]
        print(loaded)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == "[]"


def test_the_agent_scheme_finds_shipped_agents_from_any_folder(tmp_path, monkeypatch) -> None:
    ref = "agent:agents/zoo/ppo-video-arxiv/ppo.zip"
    zoo = Path(__file__).resolve().parents[2] / "agents" / "zoo"
    manifest = json.loads((zoo / "ppo-video-arxiv" / "ppo.json").read_text())
    monkeypatch.chdir(tmp_path)
    validate_policy_ref(ref)
    assert policy_identity(ref).startswith(f"{ref}#sha256=")
    assert env_modes(ref, None, None) == (manifest["action_mode"], manifest["obs_mode"])
    assert env_modes(ref, "target", None) == ("target", manifest["obs_mode"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"target": 0.6},
            r"policy 'hpa' has no parameter 'target'\. Did you mean 'target_utilisation'\? "
            r"Its parameters: target_utilisation: float = 0\.8, tolerance: float = 0\.1, ",
        ),
        (
            {"target_utilisation": "high"},
            "parameter target_utilisation = 'high' is a str; expected target_utilisation: float",
        ),
        ({"legacy": 1}, "parameter legacy = 1 is a int; expected legacy: bool = False"),
    ],
)
def test_parameters_a_policy_does_not_take_are_named_with_those_it_does(params, message):
    env = InferenceClusterEnv("smoke-video")
    with pytest.raises(PolicyError, match=message):
        registry.make_policy("hpa", env, **params)
    registry.make_policy("hpa", env, target_utilisation=1)  # an int is a fine float


def test_a_policy_taking_any_keyword_accepts_any_name():
    registry.check_params("x", lambda env, **kw: None, {"anything": "goes"})
