import gymnasium as gym
import numpy as np
import pytest
from themis_env.agents.envs import agent_scenarios_dir, resolve_scenario
from themis_env.agents.wrappers import RandomWindowReset

import themis_env  # noqa: F401
from themis_env.errors import ScenarioNotFound


class _RecordReset(gym.Env):
    observation_space = gym.spaces.Box(0, 1, (1,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        self.options = options
        return np.zeros(1, dtype=np.float32), {}


def test_random_window_reset_asks_for_a_random_window_and_keeps_other_options():
    env = RandomWindowReset(_RecordReset())
    env.reset()
    assert env.unwrapped.options == {"random_window": True}
    env.reset(options={"episode_s": 60})
    assert env.unwrapped.options == {"episode_s": 60, "random_window": True}
    env.reset(options={"start_s": 5})  # an explicit window wins
    assert env.unwrapped.options == {"start_s": 5}


def test_random_windows_differ_between_episodes_and_repeat_with_the_seed():
    def starts(seed):
        env = RandomWindowReset(
            gym.make("themis_env/InferenceCluster-v0", scenario="smoke-video", episode_s=30)
        )
        env.reset(seed=seed)
        first = env.unwrapped.workload.start_s
        env.reset()
        return first, env.unwrapped.workload.start_s

    a = starts(3)
    assert a[0] != a[1]
    assert starts(3) == a


def test_agent_scenarios_resolve_and_unknown_names_are_explained():
    assert resolve_scenario("smoke-video") == "smoke-video"
    path = resolve_scenario("video-arxiv-val-bursty")
    assert path == str(agent_scenarios_dir() / "video-arxiv-val-bursty.yaml")
    env = gym.make("themis_env/InferenceCluster-v0", scenario=path)
    assert env.unwrapped.scenario.name == "video-arxiv-val-bursty"
    with pytest.raises(ScenarioNotFound, match="Did you mean 'video-arxiv-val-bursty'"):
        resolve_scenario("video-arxiv-val-burst")


def _paper_scenario(name: str) -> str:
    """The paper scenario of an agent scenario's pipeline and preset.

    ``video-arxiv-val-bursty`` -> ``video-arxiv-twitter``; the generalist's
    ``general-train-nlp-2025-spike`` -> ``nlp-2025-twitter`` (its validation and selection
    scenarios alike), and its variant scenarios' ``general-train-ipa-video-mmpp`` ->
    ``ipa-video-bursty``; ``jitter-train-nlp-arxiv-steady`` -> ``nlp-arxiv-twitter``.
    """
    for prefix in ("general-train-", "general-val-", "general-select-", "jitter-train-"):
        name = name.removeprefix(prefix)
    parts = name.split("-")
    variants = {
        "infadapter-resnet": "infadapter-resnet",
        "video-variants": "video-arxiv-variants",
        "ipa-video": "ipa-video-bursty",
    }
    return variants.get(f"{parts[0]}-{parts[1]}", f"{parts[0]}-{parts[1]}-twitter")


@pytest.mark.parametrize("name", sorted(p.stem for p in agent_scenarios_dir().glob("*.yaml")))
def test_agent_scenarios_share_the_interface_of_their_paper_scenario(name):
    from themis_env.agents.artifacts import env_interface

    paper = gym.make("themis_env/InferenceCluster-v0", scenario=_paper_scenario(name))
    reference = env_interface(paper)
    env = gym.make("themis_env/InferenceCluster-v0", scenario=resolve_scenario(name))
    assert env_interface(env) == reference
