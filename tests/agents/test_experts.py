"""Residual RL on Themis with an expert menu: Themis, horizontal-only or their max at a factor."""

import gymnasium as gym
import numpy as np
import pytest
from themis_env.agents.artifacts import interface_mismatches, read_manifest
from themis_env.agents.envs import import_wrappers
from themis_env.agents.evaluate import agent_fits, load_agent, required_env_kwargs
from themis_env.agents.padded import StageFeatures
from themis_env.agents.residual import (
    EXPERT_MENU,
    EXPERTS_LAYOUT,
    EXPERTS_OWN_LAYOUT,
    HEADROOM_LAYOUT,
    ConstantExpertPolicy,
    ExpertFeatures,
    ThemisExperts,
    ThemisHeadroom,
    headroom_interface,
    parse_member,
)

import themis_env  # noqa: F401
from themis_env.errors import ConfigError, InvalidActionError, PolicyError
from themis_env.evaluation.registry import make_policy

from .helpers import episode_actions, stepped_through, tiny_trained
from .test_padded_variants import _registered_scenarios
from .test_residual import WRAPPERS as HEADROOM_WRAPPERS
from .test_residual import _episode

ENV_ID = "themis_env/InferenceCluster-v1"
WRAPPERS = [
    "themis_env.agents.wrappers.RandomWindowReset",
    {"themis_env.agents.residual.ThemisExperts": {"hold_s": 10}},
    {"themis_env.agents.padded.StageFeatures": {"forecast": "none", "variants": 5}},
    "themis_env.agents.residual.ExpertFeatures",
]
# The same chain with the controllers planning from their own targets (themis-experts-v2).
OWN_WRAPPERS = [
    WRAPPERS[0],
    {"themis_env.agents.residual.ThemisExperts": {"hold_s": 10, "plan_from": "own"}},
    *WRAPPERS[2:],
]
# A prior towards Themis, waived for 30 s after a violation (one more feature).
GATED_WRAPPERS = [
    WRAPPERS[0],
    {
        "themis_env.agents.residual.ThemisExperts": {
            "hold_s": 10,
            "deviation_cost": 0.5,
            "violation_window_s": 30,
        }
    },
    *WRAPPERS[2:],
]
N_FEATURES = 139 + len(EXPERT_MENU) + 5


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
@pytest.mark.parametrize(
    ("scenario", "baseline", "member"),
    [
        ("smoke-video", "themis", ("themis", 1.0)),
        ("smoke-video", "horizontal", ("horizontal", 1.0)),
        ("video-arxiv-variants", "themis-variants", ("themis", 1.0)),
        # Horizontal-only does not run on variants: every expert is themis-variants there.
        ("video-arxiv-variants", "themis-variants", ("max", 1.0)),
    ],
)
def test_a_factor_one_member_is_its_baseline_bit_for_bit(scenario, baseline, member):
    make = dict(scenario=scenario, obs_mode="flat", episode_s=120)
    plain = gym.make(ENV_ID, **make)
    policy = make_policy(baseline, plain)
    policy.reset()
    expected = _episode(plain, policy.act)
    assert len({str(t) for _, _, t in expected}) > 3  # the baseline does act in this episode
    # Themis at 1 is in the default menu; the others are tried in a menu of their own.
    menu = EXPERT_MENU if member in EXPERT_MENU else [member]
    index = list(menu).index(member)
    assert stepped_through(ThemisExperts(gym.make(ENV_ID, **make), members=menu), index) == expected
    wrapped = ThemisExperts(gym.make(ENV_ID, **make), members=menu)
    assert _episode(wrapped, lambda obs: index) == expected
    fresh = gym.make(ENV_ID, **make)
    constant = make_policy("themis-experts", fresh, expert=member[0], factor=member[1])
    assert isinstance(constant, ConstantExpertPolicy)
    constant.reset()
    assert _episode(fresh, constant.act) == expected


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_max_serves_each_stage_with_the_larger_plan():
    make = dict(scenario="smoke-video", obs_mode="flat", episode_s=60)
    cores = {}
    for expert in ("themis", "horizontal", "max"):
        env = gym.make(ENV_ID, **make)
        policy = ConstantExpertPolicy(env, expert=expert, factor=1.3)
        policy.reset()
        _episode(env, policy.act)
        cores[expert] = env.unwrapped.episode_kpis()["mean_cores"]
    assert cores["max"] >= max(cores["themis"], cores["horizontal"])


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_the_member_holds_and_the_features_show_it():
    env = ExpertFeatures(
        StageFeatures(
            ThemisExperts(
                gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat", episode_s=60), hold_s=10
            ),
            forecast="none",
            variants=5,
        )
    )
    experts = env.env.env
    assert experts.hold == 10 and env.action_space == gym.spaces.Discrete(len(EXPERT_MENU))
    assert env.observation_space.shape == (N_FEATURES,)
    obs, _ = env.reset(seed=0)
    assert not obs[139:].any()  # no member in force, no Themis decision yet
    for member in (len(EXPERT_MENU) - 1, 2):
        obs, *_ = env.step(member)
        assert env.observation_space.contains(obs)
        assert experts.member == member and experts.factor == EXPERT_MENU[member][1]
        assert obs[139 + member] == 1 and obs[139 : 139 + len(EXPERT_MENU)].sum() == 1
        assert obs[139 + len(EXPERT_MENU) : -1].sum() == 1  # Themis's mode, one-hot
        assert 0 <= obs[-1] <= 1


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_every_registered_scenario_gets_the_same_spaces():
    spaces = set()
    for scenario in _registered_scenarios():
        base = gym.make(ENV_ID, scenario=scenario, obs_mode="flat", episode_s=30)
        env = ExpertFeatures(StageFeatures(ThemisExperts(base), forecast="none", variants=5))
        obs, _ = env.reset(seed=0)
        for action in (0, len(EXPERT_MENU) - 1):
            obs, *_ = env.step(action)
            assert env.observation_space.contains(obs), scenario
        spaces.add((env.observation_space.shape, repr(env.action_space)))
    assert spaces == {((N_FEATURES,), repr(gym.spaces.Discrete(len(EXPERT_MENU))))}


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_the_deviation_cost_is_charged_per_choice_away_from_themis_and_nowhere_else():
    make = dict(scenario="smoke-video", obs_mode="flat", episode_s=60)
    plain, costly = (
        ThemisExperts(gym.make(ENV_ID, **make), hold_s=10, deviation_cost=cost)
        for cost in (0.0, 0.75)
    )
    themis = EXPERT_MENU.index(("themis", 1.0))
    choices = [themis, 5, 5, themis, 9, themis]
    for env in (plain, costly):
        env.reset(seed=3)
    for member in choices:
        a, b = plain.step(member), costly.step(member)
        assert b[1] == pytest.approx(a[1] - (0.75 if member != themis else 0.0))
        assert np.array_equal(a[0], b[0]) and a[4] == b[4]  # same observation, same info
    assert plain.unwrapped.episode_kpis() == costly.unwrapped.episode_kpis()
    # The evaluators' path (action per env step) never sees the cost.
    assert np.array_equal(plain.action(5), costly.action(5))


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_every_prior_member_is_free_of_the_cost_and_only_those():
    make = dict(scenario="smoke-video", obs_mode="flat", episode_s=60)
    menu = [("themis", 0.85), *EXPERT_MENU]
    prior = [["themis", 0.85], ["themis", 1.0]]
    plain, costly = (
        ThemisExperts(gym.make(ENV_ID, **make), members=menu, hold_s=10, **extra)
        for extra in ({}, {"deviation_cost": 0.75, "prior": prior})
    )
    assert costly.prior == {0, menu.index(("themis", 1.0))}
    for env in (plain, costly):
        env.reset(seed=3)
    for member in (0, 1, 3, 0, 7, 1):
        a, b = plain.step(member), costly.step(member)
        assert b[1] == pytest.approx(a[1] - (0.75 if member not in (0, 1) else 0.0))
    assert plain.unwrapped.episode_kpis() == costly.unwrapped.episode_kpis()


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_the_switch_cost_is_charged_per_change_of_member_and_nowhere_else():
    make = dict(scenario="smoke-video", obs_mode="flat", episode_s=60)
    plain, costly = (
        ThemisExperts(gym.make(ENV_ID, **make), hold_s=10, **extra)
        for extra in ({}, {"deviation_cost": 0.75, "switch_cost": 2.0})
    )
    themis = EXPERT_MENU.index(("themis", 1.0))
    # The first choice is no switch; then stay, switch, stay, switch back, switch.
    choices = [5, 5, themis, themis, 9, 5]
    switched = [False, False, True, False, True, True]
    for env in (plain, costly):
        env.reset(seed=3)
    for member, switch in zip(choices, switched, strict=True):
        a, b = plain.step(member), costly.step(member)
        cost = (0.75 if member != themis else 0.0) + (2.0 if switch else 0.0)
        assert b[1] == pytest.approx(a[1] - cost)
        assert np.array_equal(a[0], b[0]) and a[4] == b[4]
    assert plain.unwrapped.episode_kpis() == costly.unwrapped.episode_kpis()
    # A new episode's first choice is no switch, whatever the last episode held.
    costly.reset(seed=3)
    plain.reset(seed=3)
    assert costly.step(themis)[1] == pytest.approx(plain.step(themis)[1])


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_the_switch_cost_is_waived_within_the_window_after_a_violation():
    make = dict(scenario="smoke-video", obs_mode="flat", episode_s=60)
    plain, gated = (
        ThemisExperts(gym.make(ENV_ID, **make), hold_s=10, **extra)
        for extra in ({}, {"switch_cost": 1.5, "violation_window_s": 10})
    )
    themis = EXPERT_MENU.index(("themis", 1.0))
    for env in (plain, gated):
        env.reset(seed=3)
    for _ in range(3):  # past the cold start, no switch
        plain.step(themis), gated.step(themis)
    a, b = plain.step(9), gated.step(9)
    assert not gated.recently_violated
    assert b[1] == pytest.approx(a[1] - 1.5)  # a switch; no deviation cost is set
    violated = b[0].copy()
    gated.unwrapped.layout.views(violated)["violation"][0] = 0.5
    for env in (plain, gated):
        env.observe(violated)
    a, b = plain.step(themis), gated.step(themis)
    assert b[1] == pytest.approx(a[1])  # a switch made just after a violation is free


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_the_cost_is_waived_for_choices_made_within_the_window_after_a_violation():
    make = dict(scenario="smoke-video", obs_mode="flat", episode_s=60)
    plain, gated = (
        ThemisExperts(gym.make(ENV_ID, **make), hold_s=10, deviation_cost=cost, **extra)
        for cost, extra in ((0.0, {}), (0.75, {"violation_window_s": 10}))
    )
    layout = gated.unwrapped.layout
    themis = EXPERT_MENU.index(("themis", 1.0))
    for env in (plain, gated):
        env.reset(seed=3)
    assert not gated.recently_violated and not plain.recently_violated
    for _ in range(3):  # past the cold start's violations, on Themis (never charged)
        a, b = plain.step(themis), gated.step(themis)
        assert b[1] == pytest.approx(a[1])
    assert not gated.recently_violated
    a, b = plain.step(9), gated.step(9)
    assert not gated.recently_violated  # smoke-video meets its SLO here
    assert b[1] == pytest.approx(a[1] - 0.75)
    # An interval with a violation just ended: the next choice away from Themis is free.
    violated = b[0].copy()
    layout.views(violated)["violation"][0] = 0.5
    for env in (plain, gated):
        env.observe(violated)
    assert gated.recently_violated
    a, b = plain.step(9), gated.step(9)
    assert b[1] == pytest.approx(a[1]) and np.array_equal(a[0], b[0])
    # Ten 1-s intervals later the window (10 s) has passed: the cost is back.
    assert not gated.recently_violated
    a, b = plain.step(9), gated.step(9)
    assert b[1] == pytest.approx(a[1] - 0.75)
    # A new episode forgets the violation.
    gated.observe(violated)
    gated.reset(seed=3)
    assert not gated.recently_violated


def test_the_waiver_is_the_last_expert_feature_where_it_is_on():
    make = dict(scenario="smoke-video", obs_mode="flat", episode_s=60)
    env = ExpertFeatures(
        StageFeatures(
            ThemisExperts(
                gym.make(ENV_ID, **make), hold_s=10, deviation_cost=0.5, violation_window_s=30
            ),
            forecast="none",
            variants=5,
        )
    )
    experts = env.env.env
    assert env.observation_space.shape == (N_FEATURES + 1,)
    obs, _ = env.reset(seed=0)
    assert obs[-1] == 0
    violated = experts._obs.copy()
    experts.unwrapped.layout.views(violated)["violation"][0] = 1.0
    experts.observe(violated)
    assert env.observation(np.zeros(139, dtype=np.float32))[-1] == 1


def test_a_bad_violation_window_is_refused_naming_what_is_allowed():
    env = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat")
    for bad in (0, -5.0, float("nan"), float("inf"), "10", True):
        with pytest.raises(ConfigError, match=r"violation_window_s = .*allowed: None or a pos"):
            ThemisExperts(env, deviation_cost=0.5, violation_window_s=bad)
    with pytest.raises(ConfigError, match=r"waives the deviation and switch costs, which are 0"):
        ThemisExperts(env, violation_window_s=10)
    assert ThemisExperts(env, deviation_cost=0.5).violation_window_s is None
    assert ThemisExperts(env, switch_cost=0.5, violation_window_s=10).violation_window_s == 10


def test_a_bad_deviation_or_switch_cost_is_refused_naming_what_is_allowed():
    env = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat")
    for bad in (-0.1, float("nan"), float("inf"), "0.2", True):
        with pytest.raises(ConfigError, match=r"deviation_cost = .*allowed: a finite number >= 0"):
            ThemisExperts(env, deviation_cost=bad)
        with pytest.raises(ConfigError, match=r"switch_cost = .*allowed: a finite number >= 0"):
            ThemisExperts(env, switch_cost=bad)
    with pytest.raises(ConfigError, match=r"prior \[\['themis', 1.0\]\] not in the menu"):
        ThemisExperts(env, members=[["horizontal", 1.5]], deviation_cost=0.2)
    assert ThemisExperts(env, members=[["horizontal", 1.5]]).deviation_cost == 0.0
    with pytest.raises(ConfigError, match=r"prior \[\['themis', 0.85\]\] not in the menu"):
        ThemisExperts(env, deviation_cost=0.2, prior=[["themis", 0.85], ["themis", 1]])
    for bad in ([], [["themis"]], [["nope", 1]], [["themis", -1]]):
        with pytest.raises(ConfigError, match=r"ThemisExperts prior"):
            ThemisExperts(env, deviation_cost=0.2, prior=bad)


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
@pytest.mark.parametrize("bad", [len(EXPERT_MENU), -1, 1.0, np.array([0, 1]), "1"])
def test_a_bad_member_index_is_refused_naming_the_menu(bad):
    env = ThemisExperts(gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat"))
    env.reset(seed=0)
    n = len(EXPERT_MENU) - 1
    with pytest.raises(InvalidActionError, match=rf"ThemisExperts .* 0\.\.{n} into the members"):
        env.step(bad)


def test_bad_menus_and_chains_are_refused():
    env = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat")
    with pytest.raises(ConfigError, match="expert = 'vertical'; allowed"):
        ThemisExperts(env, members=[["vertical", 1.0]])
    with pytest.raises(ConfigError, match="factors = \\[0\\]"):
        ThemisExperts(env, members=[["themis", 0]])
    with pytest.raises(ConfigError, match="not an \\[expert, factor\\] pair"):
        ThemisExperts(env, members=["themis"])
    with pytest.raises(ConfigError, match="members = \\[\\]"):
        ThemisExperts(env, members=[])
    with pytest.raises(PolicyError, match="themis-experts expert = 'hpa'"):
        ConstantExpertPolicy(env, expert="hpa")
    with pytest.raises(ConfigError, match="needs themis_env.agents.residual.ThemisExperts"):
        ExpertFeatures(StageFeatures(ThemisHeadroom(env), variants=5))
    with pytest.raises(ConfigError, match="ThemisExperts needs themis_env.agents.padded"):
        headroom_interface(env, WRAPPERS[:2])
    with pytest.raises(gym.error.ResetNeeded, match="no observation"):
        ThemisExperts(env).action(0)


def test_a_member_written_expert_colon_factor_parses_or_is_explained():
    assert parse_member("themis:1.02") == ("themis", 1.02)
    assert parse_member("max:1") == ("max", 1.0)
    with pytest.raises(ConfigError, match="--members 'vertical:1'.*allowed"):
        parse_member("vertical:1", "--members")
    for bad in ("themis", "themis:", "themis:x", "themis:nan", "themis:inf"):
        with pytest.raises(ConfigError, match="expected expert:factor"):
            parse_member(bad)
    with pytest.raises(ConfigError, match="themis:-1"):
        parse_member("themis:-1")


def test_the_interface_names_the_layout_and_the_headroom_one_is_unchanged():
    variants = gym.make(ENV_ID, scenario="ipa-video-bursty", obs_mode="flat")
    record = headroom_interface(variants, WRAPPERS)
    assert record["layout"] == EXPERTS_LAYOUT and record["expert_features"] is True
    assert record["members"] == [list(m) for m in EXPERT_MENU] and record["hold_s"] == 10
    for scenario in ("smoke-video", "nlp-2025-twitter", "infadapter-resnet"):
        env = gym.make(ENV_ID, scenario=scenario, obs_mode="flat")
        assert interface_mismatches(record, env) == [], scenario
    assert headroom_interface(variants, HEADROOM_WRAPPERS)["layout"] == HEADROOM_LAYOUT
    paths = [name for name, _, _ in import_wrappers(WRAPPERS, trusted=False)]
    assert paths[1] == "themis_env.agents.residual.ThemisExperts" and paths[3].endswith("Features")


def _themis_plans_from(plan_from: str) -> list[tuple[list, list, list]]:
    """Per Themis decision: the configuration it planned from, its last targets, the live ones.

    Horizontal-only at 1.5 is in force throughout; Themis decides beside it.
    """
    env = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat", episode_s=60)
    wrapped = ThemisExperts(
        env, members=[("horizontal", 1.5), ("themis", 1.0)], plan_from=plan_from
    )
    themis = wrapped.planner.themis
    decide = themis.controller.decide
    seen = []

    def spy(history, current, ready=None):
        last = themis.last_decision
        seen.append(
            (
                [tuple(t) for t in current],
                None if last is None else [tuple(t) for t in last.targets],
                [(d.replicas, d.cores, d.batch) for d in env.unwrapped.current_targets],
            )
        )
        return decide(history, current, ready)

    themis.controller.decide = spy
    wrapped.reset(seed=0)
    for _ in range(40):
        wrapped.step(0)
    return seen


@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
def test_own_plans_from_its_last_targets_live_from_the_configuration_in_force():
    own = _themis_plans_from("own")[1:]  # the first decision has no targets of its own yet
    assert all(current == last for current, last, _ in own)
    assert any(current != live for current, _, live in own)  # horizontal-only's differ
    live = _themis_plans_from("live")[1:]
    assert any(current != last for current, last, _ in live)


def test_the_own_layout_is_recorded_and_a_bad_plan_from_is_refused():
    env = gym.make(ENV_ID, scenario="smoke-video", obs_mode="flat")
    assert "plan_from" not in headroom_interface(env, WRAPPERS)  # v1 records as before
    record = headroom_interface(env, OWN_WRAPPERS)
    assert record["layout"] == EXPERTS_OWN_LAYOUT and record["plan_from"] == "own"
    assert interface_mismatches(record, gym.make(ENV_ID, scenario="nlp-2025-twitter")) == []
    with pytest.raises(ConfigError, match="ThemisExperts plan_from = 'last'; allowed"):
        ThemisExperts(env, plan_from="last")
    with pytest.raises(PolicyError, match="plan_from = 'last'; allowed"):
        ConstantExpertPolicy(env, expert="max", plan_from="last")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:trace 'twitter-2021-08' is not available")
@pytest.mark.parametrize(
    ("wrappers", "layout"),
    [
        (WRAPPERS, EXPERTS_LAYOUT),
        (OWN_WRAPPERS, EXPERTS_OWN_LAYOUT),
        (GATED_WRAPPERS, EXPERTS_LAYOUT),
    ],
)
def test_a_saved_agent_loads_as_data_and_acts_as_it_trained(tmp_path, wrappers, layout):
    pytest.importorskip("stable_baselines3")
    final = tiny_trained(tmp_path, wrappers, layout)
    gated = wrappers is GATED_WRAPPERS
    assert read_manifest(final)["interface"].get("violation_window_s") == (30 if gated else None)
    for scenario in ("smoke-video", "video-arxiv-variants"):
        env = gym.make(ENV_ID, scenario=scenario, episode_s=30, **required_env_kwargs(final))
        assert agent_fits(final, env) == []
        agent = load_agent(str(final), env)
        experts = next(w for w in agent._wrappers if isinstance(w, ThemisExperts))
        assert experts.planner.plan_from == ("own" if layout == EXPERTS_OWN_LAYOUT else "live")
        assert experts.violation_window_s == (30.0 if gated else None)
        # reset() restarts the planner: the same episode again.
        episodes = [episode_actions(env, agent, 30) for _ in range(2)]
        assert episodes[0] == episodes[1]
