"""Residual RL on Themis: an agent that picks a load multiplier, Themis plans for it.

An agent acting through :class:`ThemisHeadroom` does not set replicas, cores or batch itself:
every decision it picks one of a few factors, and Themis's controller
(:class:`~themis_env.baselines.themis.policy.ThemisPolicy`, or
:class:`~themis_env.baselines.themis.variants.ThemisVariantsPolicy` on a scenario with model
variants) plans for the observed per-second arrivals times that factor. The controller takes
λ_now, the forecast and the recent-max reference of its switch rule from that history, so all
three scale together: the factor is a learned headroom over the load Themis sees. Factor 1 is
Themis exactly. The action space (``Discrete(len(factors))``) does not depend on the pipeline,
so with :class:`~themis_env.agents.padded.StageFeatures` (``variants: 5``) as the observation
one agent acts on every scenario of at most three stages of at most five variants.

The wrapper needs the env's raw observation to run the controller: it keeps the one its
``reset`` and ``step`` return, and a caller that steps the env itself (the evaluator,
:class:`~themis_env.agents.evaluate.AgentPolicy`) hands it over with :meth:`ThemisHeadroom.observe`
and starts episodes with :meth:`ThemisHeadroom.start_episode`.

:class:`ConstantHeadroomPolicy` (``themis-headroom`` in the policy registry) is the same
controller at one fixed factor: the baseline that says whether learning the factor adds anything.

:class:`ThemisExperts` widens the action to a menu of (expert, factor) members: Themis,
horizontal-only, or per stage the larger plan of the two (:class:`ExpertPlanner`), each
planning for the observed load times its factor; :class:`ExpertFeatures` adds the member in
force and Themis's phase to the observation, and :class:`ConstantExpertPolicy`
(``themis-experts``) holds one member fixed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from themis_env.agents.envs import wrapper_kwargs
from themis_env.agents.padded import PADDED_VARIANTS_LAYOUT, padded_interface, padded_mismatches
from themis_env.baselines.base import Policy
from themis_env.baselines.themis.controller import CONTROLLER_PRESETS
from themis_env.baselines.themis.policy import HorizontalOnlyPolicy, Target, ThemisPolicy
from themis_env.baselines.themis.variants import ThemisVariantsPolicy

from themis_env.envs.views import policy_view
from themis_env.envs.wrappers import cluster_env
from themis_env.errors import ConfigError, InvalidActionError, PolicyError

__all__ = [
    "HEADROOM_FACTORS",
    "HEADROOM_LAYOUT",
    "ThemisHeadroom",
    "ConstantHeadroomPolicy",
    "EXPERTS",
    "EXPERTS_LAYOUT",
    "EXPERT_MENU",
    "EXPERTS_OWN_LAYOUT",
    "ThemisExperts",
    "ExpertFeatures",
    "ExpertPlanner",
    "ConstantExpertPolicy",
    "parse_member",
    "themis_controller",
    "headroom_interface",
    "headroom_mismatches",
]

HEADROOM_LAYOUT = "themis-headroom-v1"
# Below 1 a little (Themis's solver already plans with headroom, so a calm load may be served
# with less), 1 (Themis), then steps of 15-25 % up to twice the load: a surge of Twitter's
# slice roughly doubles the rate within a decision interval or two.
HEADROOM_FACTORS = (0.85, 1.0, 1.15, 1.3, 1.5, 1.75, 2.0)


def _themis_class(env: gym.Env) -> type[ThemisPolicy]:
    """``themis-variants`` where a stage has model variants, else ``themis``."""
    limits = policy_view(env).stage_limits
    return ThemisVariantsPolicy if any(lim.variants for lim in limits) else ThemisPolicy


def themis_controller(env: gym.Env) -> ThemisPolicy:
    """The Themis policy a headroom agent acts through on ``env``, with default parameters.

    ``themis-variants`` on a scenario with model variants, else ``themis`` (as the suites run
    them).

    Raises:
        PolicyError: where neither can run (e.g. a pipeline preset Themis has no rule for).
    """
    return _themis_class(env)(env)


def _check_factors(factors: Sequence[float], who: str) -> tuple[float, ...]:
    out = tuple(float(f) for f in factors)
    if not out or any(not math.isfinite(f) or f <= 0 for f in out):
        raise ConfigError(f"{who} factors = {list(factors)!r}; allowed: positive finite numbers")
    return out


class ThemisHeadroom(gym.ActionWrapper):
    """The action: an index into ``factors``; Themis plans for the observed load times it.

    Action space ``Discrete(len(factors))``, whatever the scenario. The env's action is
    Themis's (``encode_targets``), so any ``action_mode`` works. The factor last applied is
    ``factor`` (1 before the first decision).

    With ``hold_s`` the agent chooses on a slower clock than Themis's: a factor holds for
    ``hold = round(hold_s / decision interval)`` decisions, Themis deciding at each. ``step``
    then plays ``hold`` env steps (the rewards summed; it stops early where the episode
    ends), and :meth:`action` called once per env step (as the evaluator does) takes a new
    factor only at every ``hold``-th decision of an episode, so both see the same episodes.
    A factor changed every decision re-plans Themis at every decision, which its stabilisation
    rule is not built for, and leaves each single choice of an agent little effect to learn from.

    Args:
        env: A (possibly wrapped) :class:`~themis_env.envs.InferenceClusterEnv`; the wrapper
            must sit directly on what returns raw observations (below any observation wrapper).
        factors: The load multipliers (default :data:`HEADROOM_FACTORS`).
        hold_s: How long a chosen factor holds [s] (default: one decision; at least one
            decision where the interval is longer, e.g. InfAdapter's 30 s).

    Raises:
        ConfigError: for a factor that is not a positive number.
        PolicyError: where Themis cannot run on the scenario.

    Example:
        >>> env = ThemisHeadroom(gym.make("themis_env/InferenceCluster-v1",
        ...                               scenario="smoke-video"))  # doctest: +SKIP
        >>> obs, _ = env.reset(seed=0)  # doctest: +SKIP
        >>> obs, reward, *_ = env.step(1)  # factor 1.0: Themis's own decision  # doctest: +SKIP
    """

    def __init__(
        self,
        env: gym.Env,
        factors: Sequence[float] = HEADROOM_FACTORS,
        hold_s: float | None = None,
    ) -> None:
        super().__init__(env)
        self.factors = _check_factors(factors, "ThemisHeadroom")
        interval = float(cluster_env(env, "ThemisHeadroom").decision_interval_s)
        if hold_s is not None and not (math.isfinite(hold_s) and hold_s > 0):
            raise ConfigError(
                f"ThemisHeadroom hold_s = {hold_s!r}; allowed: None or a positive duration [s]"
            )
        self.hold = 1 if hold_s is None else max(1, round(float(hold_s) / interval))
        self.controller = themis_controller(env)
        self.action_space = spaces.Discrete(len(self.factors))
        self.factor = 1.0
        self._obs: Any = None
        self._decisions = 0  # of this episode
        self._chosen = 0  # the index in force (set at the first decision)

    def observe(self, obs: Any) -> None:
        """Keep ``obs`` (a raw observation of the wrapped env) for the next decision."""
        self._obs = obs

    def start_episode(self) -> None:
        """Forget the controller's episode state (stabilisation count, predictor, variant)."""
        self.controller.reset()
        self.factor = 1.0
        self._decisions = 0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset the env and the controller."""
        obs, info = self.env.reset(**kwargs)
        self.start_episode()
        self.observe(obs)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Themis's actions at the chosen factor for ``hold`` decisions (rewards summed)."""
        total = 0.0
        for _ in range(self.hold):
            obs, reward, terminated, truncated, info = self.env.step(self.action(action))
            self.observe(obs)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total if self.hold > 1 else reward, terminated, truncated, info

    def index(self, action: Any) -> int:
        """The factor index of ``action``, checked.

        Raises:
            InvalidActionError: for anything but one integer in ``0 .. len(factors) - 1``.
        """
        flat = np.asarray(action).reshape(-1)
        n = int(self.action_space.n)
        if flat.size != 1 or not np.issubdtype(flat.dtype, np.integer) or not 0 <= flat[0] < n:
            raise InvalidActionError(
                f"{type(self).__name__} action {action!r}: expected one integer index "
                f"0..{n - 1} into {self._menu()}"
            )
        return int(flat[0])

    def _menu(self) -> str:
        return f"the factors {list(self.factors)}"

    def _choose(self, action: Any) -> int:
        """The index in force after ``action``: a new one at every ``hold``-th decision."""
        k = self.index(action)
        if self._obs is None:
            raise gym.error.ResetNeeded(
                f"{type(self).__name__} has no observation: reset the env through it, or hand "
                "the observation over with observe()"
            )
        if self._decisions % self.hold == 0:
            self._chosen = k
        self._decisions += 1
        return self._chosen

    def action(self, action: Any) -> np.ndarray:
        """Themis's env action for the last observation, planned at the factor in force.

        ``action`` chooses the factor at every ``hold``-th decision of the episode; between
        them it is checked and the factor chosen last holds.
        """
        self.factor = self.factors[self._choose(action)]
        self.controller.load_scale = self.factor
        return self.controller.act(self._obs)


class ConstantHeadroomPolicy(Policy):
    """Themis (``themis-variants`` on variant scenarios) planning for the load times ``factor``.

    The ablation of a learned headroom: the same controller at one factor chosen beforehand.
    ``factor`` 1 is Themis.

    Observes: what ``themis`` (or ``themis-variants``) observes.

    Args:
        env: The env.
        factor: The load multiplier (> 0).

    Source: the project's design, on Themis (arXiv 2407.14843).
    """

    name = "themis-headroom"

    def __init__(self, env: Any, factor: float = 1.0) -> None:
        super().__init__(env, factor=factor)
        try:
            (self.factor,) = _check_factors([factor], self.name)
        except ConfigError as exc:
            raise PolicyError(str(exc)) from exc
        self.controller = themis_controller(env)
        self.controller.load_scale = self.factor
        self.privileged = False

    def reset(self) -> None:  # noqa: D102
        self.controller.reset()

    def act(self, obs: Any) -> np.ndarray:  # noqa: D102
        return self.controller.act(obs)

    def describe(self) -> dict[str, Any]:  # noqa: D102
        out = super().describe()
        out["controller"] = self.controller.describe()
        return out


# The controllers an expert menu draws on: Themis (``themis-variants`` on variant scenarios),
# the paper's horizontal-only baseline, and per stage the larger (in cores) of the two plans.
EXPERTS = ("themis", "horizontal", "max")
# What the controllers of ExpertPlanner plan from: the live configuration or their own targets.
PLAN_FROM = ("live", "own")


# How ExpertPlanner moves a stage to a new expert's plan: at once, or make-before-break.
TRANSITIONS = ("switch", "make-before-break")


def _check_plan_from(plan_from: str, who: str) -> str:
    if plan_from not in PLAN_FROM:
        raise ConfigError(f"{who} plan_from = {plan_from!r}; allowed: {list(PLAN_FROM)}")
    return plan_from


def _check_transition(transition: str, who: str) -> str:
    if transition not in TRANSITIONS:
        raise ConfigError(f"{who} transition = {transition!r}; allowed: {list(TRANSITIONS)}")
    return transition


class ExpertPlanner:
    """Themis and horizontal-only on the same observations; one expert's action at one factor.

    Both controllers decide at every decision, whichever expert is in force, so each keeps its
    own state (arrival history, stabilisation count, predictor) whatever was chosen before.
    The expert ``themis`` is Themis's action exactly; ``horizontal`` the horizontal-only
    baseline's (1-core replicas); ``max`` takes per stage the plan with more cores
    (replicas × cores; Themis's on a tie): more capacity than either, never less. On a scenario
    with model variants (where horizontal-only does not run) every expert is ``themis-variants``.

    With ``plan_from="live"`` (``themis-experts-v1``) each controller plans from the live
    configuration, which after a switch is the other expert's: Themis then resizes the many
    1-core replicas horizontal-only left instead of its own plan, and a mix of members holds
    about horizontal-only's cores. With ``plan_from="own"`` (``themis-experts-v2``) each plans
    from the targets it set last, as if it alone were in force.

    A switch of member can change a stage's shape: Themis's few multi-core replicas become
    horizontal-only's many 1-core ones, or the reverse, and a higher factor can start
    Themis's own move from vertical to horizontal scaling. With ``transition="switch"``
    (default) the new plan is set at once: the in-place resize cuts the cores of the ready
    replicas while the added ones cold-start (or removes replicas while the rest grow), and
    capacity dips just when the switch is made, often as a surge begins. With
    ``"make-before-break"`` every stage, at a change of member (expert or factor), moves
    through intermediate shapes that keep its ready capacity (see
    :meth:`_make_before_break`) until it can take the new plan; meanwhile both controllers
    plan from their own targets. A member held throughout acts exactly as with ``switch``; on
    a scenario with model variants (every member ``themis-variants``) a switch only changes the
    factor, and the plan is set at once.

    Args:
        env: The env.
        plan_from: ``live`` (default) or ``own``.
        transition: ``switch`` (default) or ``make-before-break``.

    Raises:
        PolicyError: where Themis cannot run on the scenario.
        ConfigError: for another ``plan_from`` or ``transition``.
    """

    def __init__(self, env: gym.Env, plan_from: str = "live", transition: str = "switch") -> None:
        self.plan_from = _check_plan_from(plan_from, "ExpertPlanner")
        self.transition = _check_transition(transition, "ExpertPlanner")
        self.themis = themis_controller(env)
        self.horizontal = (
            None if isinstance(self.themis, ThemisVariantsPolicy) else (HorizontalOnlyPolicy(env))
        )
        for controller in (self.themis, self.horizontal):
            if controller is not None:
                controller.plan_from_own = self.plan_from == "own"
        self._interval = float(self.themis.view.decision_interval_s)
        self._resize_delay = float(self.themis.view.cluster.resize_delay_s)
        self._window = float(self.themis.view.cluster.cold_start.max_s)
        self._start_transitions()

    def _start_transitions(self) -> None:
        self._member: tuple[str, float] | None = None  # the member of the last action
        self._moving: set[int] = set()  # stages in a make-before-break transition
        self._grown: dict[int, int] = {}  # per stage, the decision that last grew its cores
        self._switched = 0  # the decision of the last change of member
        self._decisions = 0

    def reset(self) -> None:
        """Forget both controllers' episode state and any transition in progress."""
        self.themis.reset()
        if self.horizontal is not None:
            self.horizontal.reset()
        self._start_transitions()

    def act(self, obs: Any, expert: str, factor: float) -> np.ndarray:
        """The env action of ``expert`` planning for the observed load times ``factor``."""
        self.themis.load_scale = factor
        if self.horizontal is None:
            return self.themis.act(obs)
        self.horizontal.load_scale = factor
        # In a transition the controllers plan from their own targets: from the live shape
        # they would take the intermediate one for their own and never leave it.
        own = self.plan_from == "own" or bool(self._moving)
        self.themis.plan_from_own = self.horizontal.plan_from_own = own
        planned = self.horizontal._next_decision(obs).targets
        themis: tuple[Target, ...] = self.themis._next_decision(obs).targets
        if expert == "themis":
            targets = list(themis)
        elif expert == "horizontal":
            targets = list(planned)
        else:
            targets = [
                h if h[0] * h[1] > t[0] * t[1] else t for t, h in zip(themis, planned, strict=True)
            ]
        if self.transition == "make-before-break":
            if self._member not in (None, (expert, factor)):
                self._moving = set(range(len(targets)))  # a switch: every stage in transition
                self._switched = self._decisions
            self._member = (expert, factor)
            targets = self._make_before_break(obs, targets)
        return self.themis.view.encode_targets(targets)

    def _make_before_break(self, obs: Any, targets: list[Target]) -> list[Target]:
        """``targets`` with each stage in transition held at an intermediate shape.

        Scaling out to fewer cores per replica, the ready replicas keep the cores that carry
        the plan's capacity (replicas × cores) while the added ones cold-start, and the cores
        come down as replicas become ready. Where no stage in transition can move on (none
        has a replica starting, none can add one), the one whose ready replicas carry most of
        its plan steps down to the most cores at which a replica fits in the cores free and
        those the cut frees, or to its plan.

        Scaling in to more cores per replica, as many replicas grow as the cores free and
        those of the removed ones hold, and no more is removed before the resize has landed.

        A stage ends its transition when it takes its plan, no sooner than the longest cold
        start after the switch. Stages not in transition take their plans first; the others
        share the nodes' free cores left, the stage whose ready replicas carry the smallest
        share of its plan first.
        """
        view = self.themis.view
        d = view.obs_as_dict(obs)
        free = np.asarray(view.free_cores(), dtype=np.int64).copy()  # per node
        unresized = view.unresized_replicas()
        self._decisions += 1

        def count(key: str, s: int) -> int:
            return int(round(float(d[key][s])))

        n = len(targets)
        placed = [count("replicas", s) for s in range(n)]
        cores_now = [count("cores", s) for s in range(n)]
        ready = [count("replicas_ready", s) for s in range(n)]
        out = list(targets)
        for s in range(n):
            if s not in self._moving:  # their growth comes out of the free cores first
                _take(free, targets[s][0] * targets[s][1] - placed[s] * cores_now[s])

        def carried(s: int) -> float:  # the share of its plan a stage's ready replicas carry
            return ready[s] * cores_now[s] / max(targets[s][0] * targets[s][1], 1)

        stuck = []  # stages scaling out that no replica could be added to
        for s in sorted(self._moving, key=carried):
            (r, c, b), live_r, live_c = targets[s], placed[s], cores_now[s]
            since_grown = (self._decisions - self._grown.get(s, -1)) * self._interval
            if c < live_c and ready[s] < r:
                # Keep the cores at which the ready replicas carry the plan (no more than
                # now); add the plan's replicas at those cores as far as the nodes hold them.
                cores = max(c, min(live_c, -(-(r * c) // max(ready[s], 1))))
                added = _place(free, cores, r - live_r)
                out[s] = (live_r + added, cores, b)
                if not added and ready[s] >= live_r:
                    stuck.append(s)
            elif c > live_c and r < live_r:
                # Grow as many replicas as the free cores and those of the removed ones hold
                # (counted as if on one node); remove the rest now, the plan's excess after.
                keep = max(r, min(live_r, (int(free.sum()) + live_r * live_c) // c))
                _take(free, keep * c - live_r * live_c)
                out[s] = (keep, c, b)
                self._grown[s] = self._decisions
            elif r < live_r and (unresized[s] or since_grown < self._resize_delay):
                out[s] = (live_r, c, b)  # the resize has not landed: remove replicas after
        starting = any(ready[s] < placed[s] for s in self._moving)
        if stuck and not starting and len(stuck) == sum(out[s] != targets[s] for s in self._moving):
            # No stage in transition can move on: the one that carries most of its plan
            # steps to the most cores at which a replica fits in the free cores and those the
            # cut frees (counted as if on one node); its plan where none does.
            s = max(stuck, key=carried)
            (r, c, b), live_r, held = targets[s], placed[s], out[s][1]
            total = int(free.sum())
            spare = {k: (total + live_r * (held - k)) // k for k in range(held - 1, c - 1, -1)}
            fits = [k for k, m in spare.items() if m > 0]
            out[s] = (live_r + min(spare[fits[0]], r - live_r), fits[0], b) if fits else targets[s]
        # The new member's plan can change shape some decisions after the switch (a
        # controller's stabilisation count): a transition lasts a cold start at least.
        if (self._decisions - self._switched) * self._interval >= self._window:
            self._moving -= {s for s in self._moving if out[s] == targets[s]}
        return out


def _place(free: np.ndarray, cores: int, most: int) -> int:
    """Place up to ``most`` replicas of ``cores`` on the nodes' ``free`` cores (updated)."""
    placed = 0
    while placed < most and cores > 0:
        node = int(np.argmax(free))
        if free[node] < cores:
            break
        free[node] -= cores
        placed += 1
    return placed


def _take(free: np.ndarray, cores: int) -> None:
    """Take ``cores`` (if positive) out of the nodes' ``free`` cores, the freest first."""
    while cores > 0 and np.any(free > 0):
        node = int(np.argmax(free))
        step = min(cores, int(free[node]))
        free[node] -= step
        cores -= step


def _check_member(expert: str, factor: float, who: str) -> tuple[str, float]:
    if expert not in EXPERTS:
        raise ConfigError(f"{who} expert = {expert!r}; allowed: {list(EXPERTS)}")
    (f,) = _check_factors([factor], who)
    return expert, f


def parse_member(text: str, who: str = "member") -> tuple[str, float]:
    """A menu member written ``expert:factor`` (``themis:1.02``), as ``(expert, factor)``.

    Raises:
        ConfigError: naming ``who`` and ``text`` for an unknown expert or a factor that is not a
            positive number.
    """
    expert, sep, factor = text.partition(":")
    try:
        value = float(factor)
    except ValueError:  # also an empty factor, or no colon at all
        value = math.nan
    if not sep or not math.isfinite(value):
        raise ConfigError(f"{who} = {text!r}: expected expert:factor, e.g. themis:1.02")
    return _check_member(expert, value, f"{who} {text!r}:")


class ConstantExpertPolicy(Policy):
    """One expert of :class:`ExpertPlanner` at one load factor, fixed.

    The ablation of a learned expert choice. ``expert="themis"`` is ``themis-headroom``
    (``factor`` 1: Themis); ``expert="horizontal", factor=1`` acts as horizontal-only.

    Observes: what ``themis`` and ``horizontal`` observe.

    Args:
        env: The env.
        expert: ``themis``, ``horizontal`` or ``max`` (see :class:`ExpertPlanner`).
        factor: The load multiplier (> 0).
        plan_from: As :class:`ExpertPlanner` (default ``live``).
        transition: As :class:`ExpertPlanner` (default ``switch``).

    Source: the project's design, on Themis (arXiv 2407.14843) and its ``ho`` baseline.
    """

    name = "themis-experts"

    def __init__(
        self,
        env: Any,
        expert: str = "themis",
        factor: float = 1.0,
        plan_from: str = "live",
        transition: str = "switch",
    ) -> None:
        # transition only where set, so that records of the default read as before it existed.
        extra = {} if transition == "switch" else {"transition": transition}
        super().__init__(env, expert=expert, factor=factor, plan_from=plan_from, **extra)
        try:
            self.expert, self.factor = _check_member(expert, factor, self.name)
            self.planner = ExpertPlanner(env, plan_from, transition)
        except ConfigError as exc:
            raise PolicyError(str(exc)) from exc
        self.privileged = False

    def reset(self) -> None:  # noqa: D102
        self.planner.reset()

    def act(self, obs: Any) -> np.ndarray:  # noqa: D102
        return self.planner.act(obs, self.expert, self.factor)


EXPERTS_LAYOUT = "themis-experts-v1"
# The same menu action, the controllers planning from their own targets (plan_from: own).
EXPERTS_OWN_LAYOUT = "themis-experts-v2"
# The menu of ppo-themis-experts (benchmarks/experts_menu.py, headroom_constant.py): Themis at
# 1-1.5 times the load; horizontal-only at 1.3-2 (on bursty load of the nlp arXiv and sentiment
# 2025 pipelines it has fewer violations at fewer cores than Themis); the per-stage max of the
# two at 1.15-1.5 (the fewest violations on most video arXiv traces). Left out: factors whose
# members had lower SLO attainment on the paper suite than a neighbour at the same expert.
EXPERT_MENU: tuple[tuple[str, float], ...] = (
    *(("themis", f) for f in (1.0, 1.15, 1.3, 1.5)),
    *(("horizontal", f) for f in (1.3, 1.5, 1.75, 2.0)),
    *(("max", f) for f in (1.15, 1.3, 1.5)),
)


def _check_menu(members: Sequence[Sequence[Any]], who: str) -> tuple[tuple[str, float], ...]:
    out = []
    for m in members:
        if isinstance(m, str) or len(m) != 2:
            raise ConfigError(
                f"{who} members: {m!r} is not an [expert, factor] pair; experts: {list(EXPERTS)}"
            )
        out.append(_check_member(str(m[0]), m[1], who))
    if not out:
        raise ConfigError(f"{who} members = []; give at least one [expert, factor] pair")
    return tuple(out)


def _finite(value: Any) -> bool:
    """A finite real number: not a bool, not a string (a YAML ``"0.2"`` is refused, not read)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _check_deviation(
    cost: float, members: Sequence[tuple[str, float]], prior: Sequence[Sequence[Any]]
) -> tuple[float, frozenset[int]]:
    """``(deviation_cost, menu indices of the prior members)``, checked."""
    if not (_finite(cost) and cost >= 0):
        raise ConfigError(f"ThemisExperts deviation_cost = {cost!r}; allowed: a finite number >= 0")
    chosen = _check_menu(prior, "ThemisExperts prior")
    missing = [list(m) for m in chosen if m not in members]
    if cost and missing:
        raise ConfigError(
            f"ThemisExperts prior {missing} not in the menu {[list(m) for m in members]}: "
            "deviation_cost needs every prior member in it"
        )
    return float(cost), frozenset(members.index(m) for m in chosen if m in members)


def _check_switch(cost: float) -> float:
    """``switch_cost``, checked: a finite number >= 0."""
    if not (_finite(cost) and cost >= 0):
        raise ConfigError(f"ThemisExperts switch_cost = {cost!r}; allowed: a finite number >= 0")
    return float(cost)


def _check_window(window_s: float | None, cost: float) -> float | None:
    """``violation_window_s``, checked: None, or a positive duration with a training cost."""
    if window_s is None:
        return None
    if not (_finite(window_s) and window_s > 0):
        raise ConfigError(
            f"ThemisExperts violation_window_s = {window_s!r}; allowed: None or a positive "
            "duration [s]"
        )
    if not cost:
        raise ConfigError(
            f"ThemisExperts violation_window_s = {window_s!r} waives the deviation and switch "
            "costs, which are 0: give deviation_cost or switch_cost > 0, or drop "
            "violation_window_s"
        )
    return float(window_s)


class ThemisExperts(ThemisHeadroom):
    """The action: an index into a menu of (expert, factor) members of :class:`ExpertPlanner`.

    As :class:`ThemisHeadroom` (the hold, ``observe``/``start_episode`` for a caller that steps
    the env itself), but a member is an expert (``themis``, ``horizontal`` or ``max``) and the
    load factor it plans for. The member ``("themis", 1)`` is Themis exactly. ``member`` is the
    index in force (-1 before the first decision), ``factor`` its factor.

    Args:
        env: As :class:`ThemisHeadroom`.
        members: The menu, ``[expert, factor]`` pairs (default :data:`EXPERT_MENU`).
        hold_s: As :class:`ThemisHeadroom`.
        plan_from: As :class:`ExpertPlanner` (default ``live``).
        transition: As :class:`ExpertPlanner`: ``switch`` (default) or ``make-before-break``.
        deviation_cost: Subtracted from :meth:`step`'s reward for every choice of a member
            outside ``prior`` (default 0). A training prior: the agent leaves the prior only
            where another member gains more than this per choice. The env's own reward, info
            and KPIs are untouched, and so is :meth:`action`, the path evaluators take.
        prior: The members free of ``deviation_cost``, ``[expert, factor]`` pairs of the menu
            (default ``[["themis", 1]]``, Themis exactly). With several, the agent chooses
            among them at no cost (e.g. Themis at 0.85 and at 1: a cheaper Themis on calm
            load).
        switch_cost: Subtracted from :meth:`step`'s reward for every choice that changes the
            member in force (not the episode's first; default 0). A training prior against
            mixing members: a switch between experts that plan differently (Themis's multi-core
            replicas, horizontal-only's 1-core ones) reconfigures the stage, which costs cores
            that neither member alone holds, and violations where it falls in a surge
            (``benchmarks/experts_schedule.py`` replays schedules). Training-only, as
            ``deviation_cost``.
        violation_window_s: With a deviation or switch cost, waive both for a choice made while
            the SLO was violated within this many seconds (an interval ending that recently had
            a ``violation`` above 0; default None: never waived). A prior that holds while the
            SLO is met, free to leave it while it is not. ``recently_violated`` is the state
            the waiver reads; :class:`ExpertFeatures` shows it to the agent.

    Raises:
        ConfigError: for an unknown expert, a factor that is not a positive number, an empty
            menu, a bad ``hold_s`` or ``plan_from``, a negative or non-finite
            ``deviation_cost`` or ``switch_cost``, an unknown ``transition``, a positive
            deviation cost with a ``prior`` member not in the menu; a ``violation_window_s``
            that is not a positive duration, or one without a cost.
        PolicyError: where Themis cannot run on the scenario.
    """

    def __init__(
        self,
        env: gym.Env,
        members: Sequence[Sequence[Any]] = EXPERT_MENU,
        hold_s: float | None = None,
        plan_from: str = "live",
        deviation_cost: float = 0.0,
        violation_window_s: float | None = None,
        prior: Sequence[Sequence[Any]] = (("themis", 1.0),),
        switch_cost: float = 0.0,
        transition: str = "switch",
    ) -> None:
        self.members = _check_menu(members, "ThemisExperts")
        _check_plan_from(plan_from, "ThemisExperts")
        _check_transition(transition, "ThemisExperts")
        self.deviation_cost, self.prior = _check_deviation(deviation_cost, self.members, prior)
        self.switch_cost = _check_switch(switch_cost)
        self.violation_window_s = _check_window(
            violation_window_s, self.deviation_cost + self.switch_cost
        )
        super().__init__(env, factors=[f for _, f in self.members], hold_s=hold_s)
        self.planner = ExpertPlanner(env, plan_from, transition)
        self.controller = self.planner.themis
        self.member = -1
        base = cluster_env(env, "ThemisExperts")
        self._layout = base.layout
        self._interval = float(base.decision_interval_s)
        self._since_violation = math.inf  # intervals since the last one with a violation

    @property
    def recently_violated(self) -> bool:
        """Whether an interval ending within ``violation_window_s`` had an SLO violation."""
        window = self.violation_window_s
        return window is not None and self._since_violation * self._interval < window

    def observe(self, obs: Any) -> None:
        """Keep ``obs`` for the next decision, and count intervals since the last violation."""
        super().observe(obs)
        if self.violation_window_s is not None:
            violated = float(self._layout.as_dict(obs)["violation"][0]) > 0.0
            self._since_violation = 0.0 if violated else self._since_violation + 1.0

    def _menu(self) -> str:
        return f"the members {[list(m) for m in self.members]}"

    def start_episode(self) -> None:
        """Forget both controllers' episode state and the member in force."""
        super().start_episode()
        self.planner.reset()
        self.member = -1
        self._since_violation = math.inf

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """As :meth:`ThemisHeadroom.step`, less the training costs this choice incurs.

        ``deviation_cost`` unless a prior member was chosen, ``switch_cost`` where the member
        in force changed; both waived where the choice was made while ``recently_violated``.
        """
        waived, before = self.recently_violated, self.member
        obs, reward, terminated, truncated, info = super().step(action)
        if not waived:
            if self.deviation_cost and self.member not in self.prior:
                reward = float(reward) - self.deviation_cost
            if self.switch_cost and before >= 0 and self.member != before:
                reward = float(reward) - self.switch_cost
        return obs, reward, terminated, truncated, info

    def action(self, action: Any) -> np.ndarray:
        """The env action of the member in force for the last observation.

        ``action`` chooses the member at every ``hold``-th decision of the episode; between
        them it is checked and the member chosen last holds.
        """
        self.member = self._choose(action)
        expert, self.factor = self.members[self.member]
        return self.planner.act(self._obs, expert, self.factor)


# Themis's decision modes (controller.Decision.mode), one-hot in ExpertFeatures.
_MODES = ("vertical", "horizontal", "hold", "degraded")


class ExpertFeatures(gym.ObservationWrapper):
    """Appends what the expert agent's choice acts on: the member in force and Themis's phase.

    After the wrapped observation (a flat ``Box``, e.g.
    :class:`~themis_env.agents.padded.StageFeatures`): the member in force one-hot
    (``len(members)``, zeros before the first decision), Themis's last decision mode one-hot
    (vertical, horizontal, hold, degraded; zeros before its first decision) and its
    stabilisation count over the count it waits for (0..1); where the experts waive their
    deviation cost after a violation (``violation_window_s``), ``recently_violated`` (0 or 1)
    last. Read from the :class:`ThemisExperts` below it in the chain.

    Raises:
        ConfigError: without a :class:`ThemisExperts` below, or over a non-flat observation.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        inner: Any = env
        while not isinstance(inner, ThemisExperts):
            if not hasattr(inner, "env"):
                raise ConfigError(
                    "env_wrapper: ExpertFeatures needs themis_env.agents.residual.ThemisExperts "
                    "below it"
                )
            inner = inner.env
        self.experts: ThemisExperts = inner
        space = env.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ConfigError(
                f"env_wrapper: ExpertFeatures needs a flat Box observation below it, got {space}"
            )
        n = len(self.experts.members) + len(_MODES) + 1
        n += self.experts.violation_window_s is not None
        self.observation_space = spaces.Box(
            np.concatenate([space.low, np.zeros(n, dtype=space.dtype)]),
            np.concatenate([space.high, np.ones(n, dtype=space.dtype)]),
            dtype=space.dtype,
        )

    def features(self) -> np.ndarray:
        """The appended features (see the class docstring)."""
        e = self.experts
        member = np.zeros(len(e.members), dtype=np.float32)
        if e.member >= 0:
            member[e.member] = 1.0
        mode = np.zeros(len(_MODES), dtype=np.float32)
        last = e.planner.themis.last_decision
        if last is not None and last.mode in _MODES:
            mode[_MODES.index(last.mode)] = 1.0
        ctl = e.planner.themis.controller
        count = min(1.0, ctl.counter / ctl.stabilisation) if ctl.stabilisation else 0.0
        waiver = [float(e.recently_violated)] if e.violation_window_s is not None else []
        return np.concatenate([member, mode, np.float32([count, *waiver])])

    def observation(self, observation: Any) -> np.ndarray:  # noqa: D102
        obs = np.asarray(observation, dtype=self.observation_space.dtype)
        return np.concatenate([obs, self.features()]).astype(self.observation_space.dtype)


def headroom_interface(env: gym.Env, wrappers: Sequence[Any]) -> dict[str, Any] | None:
    """The interface record of an agent acting through a Themis headroom or expert menu.

    None without :class:`ThemisHeadroom` or :class:`ThemisExperts` in ``wrappers``.

    The observation must be :class:`~themis_env.agents.padded.StageFeatures` with variant
    slots, so one agent fits one-model and variant scenarios alike.

    Raises:
        ConfigError: for a chain without ``StageFeatures`` with ``variants``, or a bad menu.
    """
    experts = wrapper_kwargs(wrappers, f"{__name__}.ThemisExperts")
    kwargs = wrapper_kwargs(wrappers, f"{__name__}.ThemisHeadroom") if experts is None else None
    if kwargs is None and experts is None:
        return None
    features = wrapper_kwargs(wrappers, "themis_env.agents.padded.StageFeatures") or {}
    variants = int(features.get("variants", 0))
    if not variants:
        raise ConfigError(
            f"env_wrapper: {'ThemisExperts' if experts is not None else 'ThemisHeadroom'} needs "
            "themis_env.agents.padded.StageFeatures with variants (e.g. {forecast: learned, "
            "variants: 5}) above it"
        )
    # The observation's record is the padded one; the action is the menu index.
    shadow = [
        {"themis_env.agents.padded.StageFeatures": features},
        {"themis_env.agents.padded.PadStageActions": {"variants": variants}},
    ]
    record = padded_interface(env, shadow) or {}
    if experts is not None:
        plan_from = _check_plan_from(experts.get("plan_from", "live"), "ThemisExperts")
        record["layout"] = EXPERTS_LAYOUT if plan_from == "live" else EXPERTS_OWN_LAYOUT
        members = _check_menu(experts.get("members", EXPERT_MENU), "ThemisExperts")
        record["members"] = [list(m) for m in members]
        record["hold_s"] = experts.get("hold_s")
        if plan_from != "live":
            record["plan_from"] = plan_from
        transition = _check_transition(experts.get("transition", "switch"), "ThemisExperts")
        if transition != "switch":  # recorded where set: records of the default read as before
            record["transition"] = transition
        record["expert_features"] = (
            wrapper_kwargs(wrappers, f"{__name__}.ExpertFeatures") is not None
        )
        if experts.get("violation_window_s") is not None:
            # ExpertFeatures then shows the waiver: one more feature.
            record["violation_window_s"] = experts["violation_window_s"]
        return record
    record["layout"] = HEADROOM_LAYOUT
    record["factors"] = list(
        _check_factors(kwargs.get("factors", HEADROOM_FACTORS), "ThemisHeadroom")
    )
    record["hold_s"] = kwargs.get("hold_s")
    return record


def headroom_mismatches(trained: dict[str, Any], env: gym.Env) -> list[str]:
    """Why ``env`` cannot be acted on by a headroom or experts agent (empty: it can)."""
    problems = padded_mismatches({**trained, "layout": PADDED_VARIANTS_LAYOUT}, env)
    base = cluster_env(env, "headroom_mismatches")
    cls = _themis_class(env)
    preset = str(base.pipeline.config.preset or "themis-arxiv")
    if cls is ThemisPolicy and preset not in CONTROLLER_PRESETS:
        problems.append(
            f"pipeline preset {preset!r}: Themis's controller has rules for "
            f"{sorted(CONTROLLER_PRESETS)} only"
        )
    if cls is ThemisVariantsPolicy and not base.pipeline.has_accuracy:
        problems.append("model variants without accuracies: themis-variants cannot choose")
    return problems
