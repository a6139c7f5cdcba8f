"""The generalist's targets on one scenario, judged against the baselines' runs of it.

A learned agent meets them on a scenario when it has fewer SLO violations than HPA and than
horizontal-only, and no baseline dominates it (fewer violations at fewer mean cores). The
``generalisation`` benchmark applies them to the suite's traces; ``agents.select`` can apply them
to a run's validation scenarios, so a checkpoint is chosen by the same question the suite asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Outcome", "ScenarioTargets", "TARGET_BASELINES", "FEWER_THAN", "scenario_targets"]

# The baselines the targets compare with; ``static`` is left out: it reads the whole trace.
TARGET_BASELINES = ("themis", "horizontal", "vertical", "hpa", "vpa")
# The agent must have fewer violations than each of these.
FEWER_THAN = ("hpa", "horizontal")


@dataclass(frozen=True)
class Outcome:
    """A policy's mean SLO violation rate and mean cores on one scenario."""

    violation: float
    mean_cores: float


@dataclass(frozen=True)
class ScenarioTargets:
    """How a policy fares against the targets on one scenario.

    ``fewer_than`` maps each of :data:`FEWER_THAN` to whether the policy had fewer violations,
    or None where that baseline did not run the scenario (no comparison, not a miss).
    """

    fewer_than: Mapping[str, bool | None]
    dominated_by: tuple[str, ...]

    @property
    def lost_to(self) -> tuple[str, ...]:
        """The baselines a target was lost to: fewer violations, or dominating (sorted)."""
        fewer = (name for name, won in self.fewer_than.items() if won is False)
        return tuple(sorted({*fewer, *self.dominated_by}))

    @property
    def met(self) -> bool:
        """No comparison lost and no baseline dominating."""
        return not self.lost_to


def scenario_targets(me: Outcome, baselines: Mapping[str, Outcome]) -> ScenarioTargets:
    """The targets on one scenario; ``baselines`` holds the baselines that ran it, by name."""
    fewer = {
        name: None if name not in baselines else me.violation < baselines[name].violation
        for name in FEWER_THAN
    }
    dominating = tuple(
        name
        for name, b in baselines.items()
        if b.violation < me.violation and b.mean_cores < me.mean_cores
    )
    return ScenarioTargets(fewer, dominating)
