"""Small policies and record factories for the evaluation tests (``module:Class`` targets)."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

import numpy as np
from themis_env.baselines.base import Policy

from themis_env.evaluation.run_record import RunRecord

HOLD = "tests.evaluation.helpers:HoldPolicy"
REACTIVE = "tests.evaluation.helpers:ReactivePolicy"
RANDOM = "tests.evaluation.helpers:SeededRandomPolicy"
RAISING = "tests.evaluation.helpers:RaisingPolicy"
EXITING = "tests.evaluation.helpers:ExitingPolicy"
SELF_KILLING = "tests.evaluation.helpers:SelfKillingPolicy"
SLOW = "tests.evaluation.helpers:SlowPolicy"


class HoldPolicy(Policy):
    """Keeps the scenario's initial configuration."""

    name = "hold"

    def act(self, obs: Any) -> np.ndarray:
        return self.env.encode_targets([tuple(d) for d in self.env.current_targets])


class ReactivePolicy(Policy):
    """Replicas follow the observed arrival rate (so actions change during the episode)."""

    name = "reactive"

    def __init__(self, env: Any, per_replica_rps: float = 10.0, cores: int = 2) -> None:
        super().__init__(env, per_replica_rps=per_replica_rps, cores=cores)
        self.per_replica_rps = per_replica_rps
        self.cores = cores

    def act(self, obs: Any) -> np.ndarray:
        o = self.env.obs_as_dict(obs)
        rate = float(o["arrival_rate"][-1])
        targets = []
        for lim in self.env.stage_limits:
            replicas = int(
                np.clip(np.ceil(rate / self.per_replica_rps), lim.min_replicas, lim.max_replicas)
            )
            targets.append((replicas, min(self.cores, lim.max_cores), 1))
        return self.env.encode_targets(targets)


class SeededRandomPolicy(Policy):
    """Random valid targets from a generator seeded by the harness through ``seed()``."""

    name = "seeded-random"

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.rng = np.random.default_rng(12345)

    def seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, obs: Any) -> np.ndarray:
        targets = [
            (
                int(self.rng.integers(lim.min_replicas, min(lim.max_replicas, 4) + 1)),
                int(self.rng.integers(1, min(lim.max_cores, 4) + 1)),
                1,
            )
            for lim in self.env.stage_limits
        ]
        return self.env.encode_targets(targets)


class RaisingPolicy(HoldPolicy):
    """Raises on its fifth decision."""

    name = "raising"

    def reset(self) -> None:
        self.calls = 0

    def act(self, obs: Any) -> np.ndarray:
        self.calls += 1
        if self.calls == 5:
            raise RuntimeError("policy blew up on purpose")
        return super().act(obs)


class ExitingPolicy(HoldPolicy):
    """Calls ``sys.exit(3)`` on its third decision."""

    name = "exiting"

    def reset(self) -> None:
        self.calls = 0

    def act(self, obs: Any) -> np.ndarray:
        self.calls += 1
        if self.calls == 3:
            sys.exit(3)
        return super().act(obs)


class SelfKillingPolicy(HoldPolicy):
    """SIGKILLs its own process on its third decision (run it in a worker process only)."""

    name = "self-killing"

    def reset(self) -> None:
        self.calls = 0

    def act(self, obs: Any) -> np.ndarray:
        self.calls += 1
        if self.calls == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().act(obs)


class SlowPolicy(HoldPolicy):
    """Sleeps 50 ms per decision, so its runs are still in flight when a test needs them."""

    name = "slow"

    def act(self, obs: Any) -> np.ndarray:
        time.sleep(0.05)
        return super().act(obs)


def fake_record(
    scenario: str,
    policy: str,
    seed: int,
    violation: float,
    cost: float,
    *,
    status: str = "ok",
    privileged: bool = False,
    fallback: bool = False,
    key: str | None = None,
    attainment: float | None = None,
) -> RunRecord:
    """A synthetic record with the fields the leaderboard reads (checked like a loaded one).

    The SLO attainment defaults to 1 − the late-or-dropped fraction (violation / 2).
    """
    data = {
        "key": key or f"{scenario}|{policy}|{seed}",
        "status": status,
        "scenario": scenario,
        "seed": seed,
        "policy": {"label": policy, "ref": policy, "params": {}, "privileged": privileged},
        "trace": {"uri": "x", "fallback": fallback},
        "error": None if status == "ok" else {"type": "RuntimeError", "message": "boom"},
        "kpis": {
            "slo_violation_rate": violation,
            "late_or_dropped_fraction": violation / 2,
            "slo_attainment": 1 - violation / 2 if attainment is None else attainment,
            "goodput": 10.0,
            "cost": cost,
            "cost_core_seconds": cost,
            "mean_cores": cost / 100,
            "latency_p50_ms": 10.0,
            "latency_p95_ms": 20.0,
            "latency_p99_ms": 30.0,
            "dropped": 0,
            "horizontal_actions": 1,
            "vertical_actions": 2,
            "failed_resizes": 0,
            "mean_reward": -violation,
        }
        if status == "ok"
        else None,
        "actions": [] if status == "ok" else None,
        "timing": {"decision_ms_mean": 0.1, "wall_s": 1.0},
    }
    return RunRecord.from_dict(data)
