"""The generalist's targets on one scenario, judged against the baselines' runs of it.

A learned agent meets them on a scenario when it has fewer SLO violations than HPA and than
horizontal-only, and no baseline dominates it (fewer violations at fewer mean cores). The
``generalisation`` benchmark applies them to the suite's traces; ``agents.select`` can apply them
to a run's validation scenarios, so a checkpoint is chosen by the same question the suite asks.

Judged on means, a verdict against a baseline close to the policy turns on a few seeds' rare
events: violations come in bursts, so one seed can decide a mean. The paired form
(``scenario_targets(..., paired=True)``) counts a baseline as dominating only when it also has
fewer violations on enough of the seeds where the two differ that a one-sided exact sign test
rejects a coin toss at :data:`ALPHA`: 9 of 10 seeds, 7 of 8; never with fewer than 5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from math import comb
from typing import NamedTuple

__all__ = [
    "ALPHA",
    "FEWER_THAN",
    "Outcome",
    "ScenarioTargets",
    "SeedCounts",
    "TARGET_BASELINES",
    "scenario_targets",
    "seed_counts",
    "sign_test_p",
]

# The baselines the targets compare with; ``static`` is left out: it reads the whole trace.
TARGET_BASELINES = ("themis", "horizontal", "vertical", "hpa", "vpa")
# The agent must have fewer violations than each of these.
FEWER_THAN = ("hpa", "horizontal")
# Significance of the paired form's sign test (one-sided).
ALPHA = 0.05


@dataclass(frozen=True)
class Outcome:
    """A policy's mean SLO violation rate and mean cores on one scenario.

    ``seed_violations`` holds the violation rate of each seed, where known: the paired verdict
    compares two policies seed by seed.
    """

    violation: float
    mean_cores: float
    seed_violations: Mapping[int, float] = field(default_factory=dict)


class SeedCounts(NamedTuple):
    """Over the seeds two policies both ran: where the first had fewer violations, more, as many."""

    fewer: int
    more: int
    tied: int

    @property
    def seeds(self) -> int:
        """The seeds both ran."""
        return self.fewer + self.more + self.tied


def seed_counts(a: Outcome, b: Outcome) -> SeedCounts:
    """Seed by seed, how ``a``'s violation rate compares with ``b``'s."""
    seeds = a.seed_violations.keys() & b.seed_violations.keys()
    pairs = [(a.seed_violations[k], b.seed_violations[k]) for k in seeds]
    fewer = sum(x < y for x, y in pairs)
    more = sum(x > y for x, y in pairs)
    return SeedCounts(fewer, more, len(pairs) - fewer - more)


def sign_test_p(wins: int, losses: int) -> float:
    """One-sided exact sign test: P(X >= wins), X ~ Binomial(wins + losses, 1/2); ties left out."""
    if wins < 0 or losses < 0:
        raise ValueError(f"counts must be non-negative, got wins={wins}, losses={losses}")
    n = wins + losses
    return sum(comb(n, k) for k in range(wins, n + 1)) / 2**n


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


def scenario_targets(
    me: Outcome, baselines: Mapping[str, Outcome], *, paired: bool = False, alpha: float = ALPHA
) -> ScenarioTargets:
    """The targets on one scenario; ``baselines`` holds the baselines that ran it, by name.

    With ``paired``, a baseline with fewer mean violations at fewer mean cores dominates only
    when the sign test over the seeds both ran rejects a coin toss at ``alpha``.

    Raises:
        ValueError: with ``paired``, when ``me`` and a baseline it is compared with share no seed.
    """
    fewer = {
        name: None if name not in baselines else me.violation < baselines[name].violation
        for name in FEWER_THAN
    }
    dominating = tuple(
        name
        for name, b in baselines.items()
        if b.violation < me.violation
        and b.mean_cores < me.mean_cores
        and (not paired or _consistently_fewer(b, me, name, alpha))
    )
    return ScenarioTargets(fewer, dominating)


def _consistently_fewer(b: Outcome, me: Outcome, name: str, alpha: float) -> bool:
    counts = seed_counts(b, me)
    if counts.seeds == 0:
        raise ValueError(f"paired targets: the policy and baseline {name!r} share no seed")
    return sign_test_p(counts.fewer, counts.more) <= alpha
