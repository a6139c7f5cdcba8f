"""Env speed: steps per second of the registered ids beside CartPole-v1 and Pendulum-v1.

Every env is built with ``gym.make`` (so the default wrappers, OrderEnforcing and
PassiveEnvChecker, are included, as a user gets them) and stepped with actions sampled from its
action space before the clock starts; truncated episodes are reset inside the timed loop.
Each case runs ``--seconds`` per round beside a CartPole-v1 env that runs as long, the two
taking turns in ten slices: on a shared machine the speed drifts within seconds, and a ratio
of two rates measured apart would measure the drift. The rounds visit every case in turn, and
medians over rounds are reported: rates, and cost ratios against the paired CartPole.

Cases:

* ``CartPole-v1`` and ``Pendulum-v1``: the yardsticks, measured in the same run.
* The main preset ids with random actions in the default ``target`` form and Dict obs.
* The default video scenario (``InferenceCluster-v1``) with flat obs, and with the delta and
  continuous action forms.
* The default video scenario with a *held* action (the same target every step): the cost of
  an interval when the cluster is not being reconfigured, which is what a steady policy sees.

The target of the issue is one env step costing at most 3× a CartPole step
(``step_cost_vs_cartpole`` ≤ 3). The figure is printed as measured, met or not.

Run: ``python benchmarks/bench_env.py [--quick]``. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from typing import Any

import gymnasium as gym
import numpy as np

import themis_env
from themis_env.resources import shared_traces_dir

TARGET_RATIO = 3.0
DEFAULT_ID = "themis_env/InferenceCluster-v1"
MAIN_IDS = (
    DEFAULT_ID,
    "themis_env/Sentiment-Bursty-v1",
    "themis_env/Nlp-Bursty-v1",
    "themis_env/Video-Twitter-v1",
)


class Stepper:
    """An env stepped through a fixed action list in timed slices (resets included).

    Args:
        env: The env (from ``gym.make``).
        held: Step one fixed target (3 replicas, 2 cores, batch 4 per stage) instead of
            random actions.
        seed: Seed of the env and of its action space.
    """

    def __init__(self, env: gym.Env, held: bool = False, seed: int = 0) -> None:
        self.env = env
        env.reset(seed=seed)
        env.action_space.seed(seed)
        if held:
            base = env.unwrapped
            self.actions = [base.encode_targets([(3, 2, 4)] * base.n_stages)] * 4096
        else:
            self.actions = [env.action_space.sample() for _ in range(4096)]
        self.steps = 0
        self.seconds = 0.0
        self.run(0.0)  # warm-up: first calls, numba cache load
        self.steps, self.seconds = 0, 0.0

    def run(self, seconds: float, chunk: int = 64) -> None:
        """Step for about ``seconds`` (at least one chunk) and add to the totals."""
        env, actions, n = self.env, self.actions, self.steps
        start = time.perf_counter()
        while True:
            for i in range(chunk):
                _, _, terminated, truncated, _ = env.step(actions[(n + i) % len(actions)])
                if terminated or truncated:
                    env.reset()
            n += chunk
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        self.steps = n
        self.seconds += elapsed

    @property
    def rate(self) -> float:
        """Steps per second over the slices run so far."""
        return self.steps / self.seconds


def steps_per_second(env: gym.Env, seconds: float, held: bool = False, seed: int = 0) -> float:
    """Steps per wall-clock second of ``env`` over about ``seconds`` (resets included)."""
    stepper = Stepper(env, held, seed)
    stepper.run(seconds)
    return stepper.rate


def measure_all(
    cases: dict[str, tuple[Any, bool]], seconds: float, repeats: int, slices: int = 10
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Rates of every case and of the CartPole it was paired with, ``repeats`` rounds each.

    Each case and a fresh CartPole-v1 take turns in ``slices`` slices of ``seconds / slices``,
    so both see the same machine. Returns the case rates and the paired CartPole rates.
    """
    rates: dict[str, list[float]] = {name: [] for name in cases}
    paired: dict[str, list[float]] = {name: [] for name in cases}
    for r in range(repeats):
        for name, (make, held) in cases.items():
            env, cartpole = make(), gym.make("CartPole-v1")
            ours, yardstick = Stepper(env, held, seed=r), Stepper(cartpole, seed=r)
            for _ in range(slices):
                yardstick.run(seconds / slices)
                ours.run(seconds / slices)
            rates[name].append(ours.rate)
            paired[name].append(yardstick.rate)
            env.close()
            cartpole.close()
    return rates, paired


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (CI smoke)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="seconds per case and round (and as many for its paired CartPole)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="rounds over all cases")
    args = parser.parse_args()
    seconds = args.seconds or (0.5 if args.quick else 1.5)
    repeats = 1 if args.quick else args.repeats
    shared = shared_traces_dir()
    trace_dir = str(shared) if shared is not None else None
    warnings.filterwarnings("ignore", message=".*is not available here.*")  # said in the JSON

    def ours(env_id: str = DEFAULT_ID, **kwargs: Any) -> Any:
        def make() -> gym.Env:
            if "Twitter" in env_id:
                kwargs.setdefault("trace_dir", trace_dir)
            return gym.make(env_id, **kwargs)

        return make

    plan: dict[str, tuple[Any, bool]] = {
        "Pendulum-v1": (lambda: gym.make("Pendulum-v1"), False),
    }
    for env_id in MAIN_IDS:
        plan[f"{env_id.split('/')[1]} target dict"] = (ours(env_id), False)
    plan["InferenceCluster-v1 target flat"] = (ours(obs_mode="flat"), False)
    plan["InferenceCluster-v1 delta dict"] = (ours(action_mode="delta"), False)
    plan["InferenceCluster-v1 continuous dict"] = (ours(action_mode="continuous"), False)
    plan["InferenceCluster-v1 held dict"] = (ours(), True)
    plan["InferenceCluster-v1 held flat"] = (ours(obs_mode="flat"), True)
    runs, paired = measure_all(plan, seconds, repeats)
    cases = {name: statistics.median(r) for name, r in runs.items()}

    def cost_ratio(name: str) -> float:
        # Median over rounds of (paired CartPole rate / case rate).
        pairs = zip(paired[name], runs[name], strict=True)
        return statistics.median(cp / rate for cp, rate in pairs)

    cartpole = statistics.median(rate for rates in paired.values() for rate in rates)
    print(f"{'case':<40} {'steps/s':>10} {'µs/step':>9} {'× CartPole cost':>16}")
    print(f"{'CartPole-v1 (all pairings)':<40} {cartpole:>10,.0f} {1e6 / cartpole:>9.1f}")
    for name, rate in cases.items():
        print(f"{name:<40} {rate:>10,.0f} {1e6 / rate:>9.1f} {cost_ratio(name):>16.2f}")
    main_rate = cases["InferenceCluster-v1 target dict"]
    ratio = cost_ratio("InferenceCluster-v1 target dict")
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(
        f"\nDefault video scenario, random target actions: one step costs {ratio:.1f}× a "
        f"CartPole step; {verdict} the ≤ {TARGET_RATIO:g}× target."
    )
    result = {
        "benchmark": "env",
        "env_id": DEFAULT_ID,
        "steps_per_s": round(main_rate),
        "cartpole_steps_per_s": round(cartpole),
        "pendulum_steps_per_s": round(cases["Pendulum-v1"]),
        "step_cost_vs_cartpole": round(ratio, 2),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
        "held_action_steps_per_s": round(cases["InferenceCluster-v1 held dict"]),
        "held_action_cost_vs_cartpole": round(cost_ratio("InferenceCluster-v1 held dict"), 2),
        "flat_obs_steps_per_s": round(cases["InferenceCluster-v1 target flat"]),
        "cases_steps_per_s": {k: round(v) for k, v in cases.items()},
        "twitter_trace": "real" if trace_dir else "synthetic fallback",
        "seconds_per_repeat": seconds,
        "repeats": repeats,
        "themis_env": themis_env.__version__,
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
