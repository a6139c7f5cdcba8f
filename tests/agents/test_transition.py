"""Make-before-break transitions of the expert planner: a switch keeps the ready capacity."""

from itertools import takewhile
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
from themis_env.agents.residual import (
    ConstantExpertPolicy,
    ExpertPlanner,
    ThemisExperts,
    headroom_interface,
)

import themis_env  # noqa: F401
from themis_env.errors import ConfigError, PolicyError
from themis_env.evaluation.registry import make_policy

from .test_experts import WRAPPERS
from .test_residual import _episode

ENV_ID = "themis_env/InferenceCluster-v1"
MENU = [("themis", 1.0), ("horizontal", 1.0)]
# On smoke-video (seed 0) Themis holds 3-core replicas of stage 0, all ready, from 6 s to 11 s;
# horizontal-only plans more 1-core ones there. Switching at 8 s changes the stage's shape.
SWITCH_AT = 8


def _switched(transition: str, steps: int = 40) -> list[dict]:
    """Per decision of Themis, then horizontal-only from SWITCH_AT: the stage-0 state and plan."""
    env = ThemisExperts(
        gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat", episode_s=120),
        members=MENU,
        transition=transition,
    )
    obs, _ = env.reset(seed=0)
    rows = []
    for t in range(steps):
        obs, *_ = env.step(0 if t < SWITCH_AT else 1)
        d = env.unwrapped.layout.as_dict(obs)
        plan = env.planner.horizontal.last_decision.targets[0]
        rows.append(
            {
                "replicas": int(d["replicas"][0]),
                "ready": int(d["replicas_ready"][0]),
                "cores": int(d["cores"][0]),
                "plan": (int(plan[0]), int(plan[1])),
            }
        )
    return rows


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_a_switch_keeps_the_cores_of_the_ready_replicas_until_the_added_ones_start():
    switch, mbb = _switched("switch"), _switched("make-before-break")
    assert switch[:SWITCH_AT] == mbb[:SWITCH_AT]  # the same episode up to the switch
    before = switch[SWITCH_AT - 1]
    assert before["cores"] > 1 and before["ready"] == before["replicas"]
    carried = before["ready"] * before["cores"]

    def dips(rows: list[dict]) -> list[int]:
        """Decisions, until the replicas asked for at the switch are ready, whose ready
        replicas carry less than both the capacity before it and the plan's (replicas × cores).
        """
        asked = rows[SWITCH_AT]["replicas"]
        starting = takewhile(lambda row: row["ready"] < asked, rows[SWITCH_AT:])
        return [
            t
            for t, row in enumerate(starting, SWITCH_AT)
            if row["ready"] * row["cores"] < min(carried, row["plan"][0] * row["plan"][1])
        ]

    # At once, the resize cuts the ready replicas' cores while the added ones cold-start.
    assert (
        switch[SWITCH_AT]["cores"] == 1
        and switch[SWITCH_AT]["ready"] < switch[SWITCH_AT]["replicas"]
    )
    assert dips(switch)
    # Make-before-break: added replicas at the cores that carry the plan, never a dip.
    assert mbb[SWITCH_AT]["replicas"] == switch[SWITCH_AT]["replicas"] > before["replicas"]
    assert mbb[SWITCH_AT]["cores"] > 1
    assert dips(mbb) == []
    # And it reaches horizontal-only's shape (1-core replicas) once they are ready.
    assert mbb[-1]["cores"] == 1 and mbb[-1]["replicas"] == switch[-1]["replicas"]


class _Cluster:
    """A view of one stage's live state for ExpertPlanner._make_before_break."""

    def __init__(self, replicas: int, ready: int, cores: int, free: list[int]) -> None:
        self.state = dict(replicas=replicas, ready=ready, cores=cores)
        self.free, self.unresized = np.array(free), np.zeros(1, dtype=int)

    def obs_as_dict(self, obs: object) -> dict[str, np.ndarray]:
        s = self.state
        return {
            "replicas": np.array([s["replicas"]]),
            "replicas_pending": np.zeros(1),
            "replicas_ready": np.array([s["ready"]]),
            "cores": np.array([s["cores"]]),
        }

    def free_cores(self) -> np.ndarray:
        return self.free

    def unresized_replicas(self) -> np.ndarray:
        return self.unresized


def _planner(view: _Cluster, interval: float = 1.0, resize_delay: float = 2.0) -> ExpertPlanner:
    env = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat", episode_s=60)
    planner = ExpertPlanner(env.unwrapped, transition="make-before-break")
    planner.themis = SimpleNamespace(view=view)
    planner._interval, planner._resize_delay, planner._window = interval, resize_delay, 0.0
    planner._moving = {0}
    return planner


def test_a_switch_to_fewer_larger_replicas_grows_them_before_removing_any():
    # Eight 1-core replicas; the plan: three of 3 cores. The 7 free cores and the 8 the
    # replicas hold make room for five of 3 cores: five grow now, three go now, two after.
    view = _Cluster(replicas=8, ready=8, cores=1, free=[2, 5])
    planner = _planner(view)
    assert planner._make_before_break(None, [(3, 3, 1)]) == [(5, 3, 1)]
    # The next decision the cores read 3 but the resize has not landed (2 s): none removed.
    view.state.update(replicas=5, cores=3)
    assert planner._make_before_break(None, [(3, 3, 1)]) == [(5, 3, 1)]
    # Nor while a resize waits for node room (Kubernetes's PodResizePending).
    planner._decisions += 5
    view.unresized[0] = 2
    assert planner._make_before_break(None, [(3, 3, 1)]) == [(5, 3, 1)]
    # Landed: the plan, and the transition ends.
    view.unresized[0] = 0
    assert planner._make_before_break(None, [(3, 3, 1)]) == [(3, 3, 1)]
    assert not planner._moving


def test_scaling_out_with_no_room_steps_the_cores_down_instead_of_cutting_them():
    # Four 4-core replicas, all ready, no free core; the plan: sixteen of 1 core.
    view = _Cluster(replicas=4, ready=4, cores=4, free=[0, 0])
    planner = _planner(view)
    # No stage can move on: the most cores at which a replica fits in what the cut frees.
    # At 3 cores the four free 4 cores: one more replica.
    assert planner._make_before_break(None, [(16, 1, 1)]) == [(5, 3, 1)]
    # With room the ready replicas keep the cores that carry the plan (16 / 4 = 4).
    view.free = np.array([8, 8])
    assert planner._make_before_break(None, [(16, 1, 1)]) == [(8, 4, 1)]
    # Once the plan's replicas are ready, the plan.
    view.state.update(replicas=16, ready=16, cores=2)
    assert planner._make_before_break(None, [(16, 1, 1)]) == [(16, 1, 1)]


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
@pytest.mark.parametrize("expert", ["themis", "horizontal", "max"])
def test_a_member_held_throughout_acts_exactly_as_without_transitions(expert):
    episodes = []
    for transition in ("switch", "make-before-break"):
        env = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat", episode_s=120)
        policy = ConstantExpertPolicy(env, expert=expert, factor=1.3, transition=transition)
        policy.reset()
        episodes.append(_episode(env, policy.act))
    assert episodes[0] == episodes[1]


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_a_new_episode_starts_without_a_transition():
    env = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat", episode_s=60)
    planner = ExpertPlanner(env.unwrapped, transition="make-before-break")
    obs, _ = env.reset(seed=0)
    for expert in ("themis", "horizontal", "themis"):
        obs, *_ = env.step(planner.act(obs, expert, 1.0))
    assert planner._moving
    planner.reset()
    assert not planner._moving and planner._member is None


def test_a_bad_transition_is_refused_naming_what_is_allowed():
    env = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat", episode_s=60)
    with pytest.raises(ConfigError, match=r"transition = 'gradual'.*make-before-break"):
        ThemisExperts(env, transition="gradual")
    with pytest.raises(ConfigError, match=r"transition = 'gradual'"):
        ExpertPlanner(env.unwrapped, transition="gradual")
    with pytest.raises(PolicyError, match=r"transition = 'gradual'"):
        make_policy("themis-experts", env, transition="gradual")


def test_the_transition_is_recorded_where_set_and_only_there():
    env = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat", episode_s=60)
    plain = headroom_interface(env, WRAPPERS)
    assert "transition" not in plain
    chain = [
        WRAPPERS[0],
        {
            "themis_env.agents.residual.ThemisExperts": {
                "hold_s": 10,
                "transition": "make-before-break",
            }
        },
        *WRAPPERS[2:],
    ]
    record = headroom_interface(env, chain)
    assert record.pop("transition") == "make-before-break" and record == plain
    chain[1]["themis_env.agents.residual.ThemisExperts"]["transition"] = "gradual"
    with pytest.raises(ConfigError, match="transition"):
        headroom_interface(env, chain)
    # The constant policy's recorded parameters name the transition only where it is set.
    assert "transition" not in ConstantExpertPolicy(env).params
    mbb = ConstantExpertPolicy(env, transition="make-before-break")
    assert mbb.params["transition"] == "make-before-break"
