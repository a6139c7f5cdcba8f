"""Native vector env speed, and what it buys PPO's rollout collection.

Part 1, env-steps/s: ``gym.make_vec("themis_env/Video-Bursty-v1", num_envs=N)`` in the
native mode (``vector_entry_point``: every cluster in one compiled call) against Gymnasium's
``SyncVectorEnv`` of N single envs (``vectorization_mode="sync"``), for N = 1, 4, 16, 64,
default keywords (target actions, Dict observations), random actions sampled before the
clock starts, autoresets inside the timed loop. The two take turns in slices within each
round (the machine's speed drifts within seconds); medians over rounds are reported, with
the share of the native step spent in the compiled call (the simulation itself, timed around
the env's compiled ``step_many`` in a run after the rounds, so that the rounds run untimed)
and the ratio to SyncVectorEnv if the rest cost nothing.

Part 2, PPO per sample: ``themis_env.agents.train``'s set-up (the shipped hyperparameter file
``configs/agents/ppo.yml``: delta actions through FitDeltaAction, RandomWindowReset,
VecNormalize, n_steps 512, batch 256, 10 epochs) for three set-ups in the same run: today's
(16 envs in a DummyVecEnv of Monitor-wrapped envs, ``--no-native-vec``) and the native vector
env at 16 and 64 envs. The three learn one iteration at a time, taking turns (the machine's
speed drifts within minutes). A callback times each rollout collection; the update is the
rest of the iteration. The first iteration of each is a warm-up and is not counted. Each
rollout's time is split into the vector env below VecNormalize (for the native env: its step,
its resets and the per-cluster action wrappers), VecNormalize, and the rest: the policy's
forward pass, sampling and SB3's rollout buffer.

Targets: native ≥ 10× SyncVectorEnv's env-steps/s at N = 16; rollout collection ≥ 3× faster
per sample at 64 native envs than today's setup. Printed as measured, met or not.

Run: ``python benchmarks/bench_vec.py [--quick]``. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from typing import Any

import gymnasium as gym
import numpy as np

import themis_env

ENV_ID = "themis_env/Video-Bursty-v1"
SIZES = (1, 4, 16, 64)
TARGET_STEP_RATIO = 10.0  # native / sync env-steps/s at N = 16
TARGET_ROLLOUT_RATIO = 3.0  # today's rollout time per sample / native at 64 envs


class VecStepper:
    """A vector env stepped through pre-sampled actions in timed slices."""

    def __init__(self, mode: str, n: int, seed: int = 0) -> None:
        self.env = gym.make_vec(ENV_ID, num_envs=n, vectorization_mode=mode)
        self.env.reset(seed=seed)
        self.env.action_space.seed(seed)
        self.actions = [self.env.action_space.sample() for _ in range(64)]
        self.n = n
        self.k = 0
        self.run(0.2)  # warm-up: compiled code loaded, buffers grown

    def run(self, seconds: float) -> tuple[int, float]:
        """Step for about ``seconds``; return (env-steps, elapsed seconds)."""
        steps, start = 0, time.perf_counter()
        while True:
            for _ in range(8):
                self.env.step(self.actions[self.k % len(self.actions)])
                self.k += 1
            steps += 8 * self.n
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return steps, elapsed


def env_steps(rounds: int, seconds: float) -> dict[int, dict[str, float]]:
    """Median env-steps/s of each mode and size, the modes taking turns in slices.

    Also the share of the native step spent in the compiled call (``sim.batch.step_many``:
    the simulation itself), and what the ratio to SyncVectorEnv would be if the rest cost
    nothing (``sync_over_compiled``).
    """
    out = {}
    for n in SIZES:
        steppers = {m: VecStepper(m, n) for m in ("vector_entry_point", "sync")}
        rates: dict[str, list[float]] = {m: [] for m in steppers}
        ratios = []
        for _ in range(rounds):
            done = {m: [0, 0.0] for m in steppers}
            for _ in range(5):
                for m, stepper in steppers.items():
                    steps, elapsed = stepper.run(seconds / 5)
                    done[m][0] += steps
                    done[m][1] += elapsed
            for m in steppers:
                rates[m].append(done[m][0] / done[m][1])
            ratios.append(rates["vector_entry_point"][-1] / rates["sync"][-1])
        share = compiled_share(steppers["vector_entry_point"], seconds)
        for stepper in steppers.values():
            stepper.env.close()
        out[n] = {
            "native": statistics.median(rates["vector_entry_point"]),
            "sync": statistics.median(rates["sync"]),
            "ratio": statistics.median(ratios),
            "compiled_share": share,
        }
        out[n]["sync_over_compiled"] = out[n]["native"] / out[n]["sync"] / out[n]["compiled_share"]
        print(
            f"N={n:>3}: native {out[n]['native']:>9,.0f} env-steps/s, sync "
            f"{out[n]['sync']:>8,.0f}, ratio {out[n]['ratio']:.1f}x; compiled share "
            f"{out[n]['compiled_share']:.0%}, ratio with the rest free "
            f"{out[n]['sync_over_compiled']:.1f}x",
            flush=True,
        )
    return out


class PpoSetup:
    """One PPO set-up of ``agents.train`` (shipped hyperparameters), one iteration at a time.

    Records the time of each rollout, of each update and of the parts of a rollout.
    """

    def __init__(self, n_envs: int, native: bool, n_steps: int | None, out: str) -> None:
        from stable_baselines3.common.callbacks import BaseCallback
        from themis_env.agents.train import Args, _setup_model, _setup_run
        from themis_env.agents.vec_env import ClusterVecEnv

        self.n_envs, self.native = n_envs, native
        overrides = [f"n_steps={n_steps}"] if n_steps else []
        args = Args(
            algo="ppo",
            n_envs=n_envs,
            out=out,
            verbose=0,
            plot=False,
            native_vec=native,
            hyperparams=overrides,
        )
        self.run = _setup_run(args, argv=[])
        self.model = _setup_model(self.run)
        self.samples = self.model.n_steps * n_envs
        inner = self.run.venv.venv if hasattr(self.run.venv, "venv") else self.run.venv
        assert isinstance(inner, ClusterVecEnv) == native, type(inner)
        # Where a rollout's time goes: the whole vector step (VecNormalize included), the
        # vector env below VecNormalize, and for the native env its parts.
        self.spent: dict[str, float] = {}
        _time_calls(self.run.venv, "step", self.spent, "vec_step")
        _time_calls(inner, "step_wait", self.spent, "env_step_wait")
        _time_calls(inner, "step_async", self.spent, "env_step_async")
        if native:
            _time_calls(inner.venv, "step", self.spent, "native_step")
            _time_calls(inner.venv, "reset", self.spent, "native_reset")
        self.rollouts: list[float] = []
        self.updates: list[float] = []
        marks: list[float] = []

        class Marks(BaseCallback):
            def _on_rollout_start(self) -> None:
                marks.append(time.perf_counter())

            def _on_rollout_end(self) -> None:
                marks.append(time.perf_counter())

            def _on_step(self) -> bool:
                return True

        self._marks = marks
        self._callback = Marks()

    def iteration(self, counted: bool) -> None:
        """One rollout and one update (``counted``: recorded; else a warm-up)."""
        before = dict(self.spent)
        self._marks.clear()
        self.model.learn(self.samples, callback=self._callback, reset_num_timesteps=False)
        done = time.perf_counter()
        if counted:
            start, end = self._marks[0], self._marks[1]
            self.rollouts.append(end - start)
            self.updates.append(done - end)
        else:
            self.spent.update(before)

    def result(self) -> dict[str, Any]:
        """Per-sample figures over the counted iterations."""
        counted = self.samples * len(self.rollouts)
        rollout_ms = 1e3 * sum(self.rollouts) / counted
        update_ms = 1e3 * sum(self.updates) / counted
        parts = {k: 1e3 * v / counted for k, v in self.spent.items()}
        env_ms = parts["env_step_wait"] + parts["env_step_async"]
        # The vector env below VecNormalize (for the native env: its step and resets, and the
        # per-cluster action wrappers), VecNormalize's share, and the rest of the rollout:
        # the policy's forward pass, sampling, the rollout buffer and SB3's loop.
        breakdown = {
            "vec_env_ms_per_sample": round(env_ms, 4),
            "vec_normalize_ms_per_sample": round(parts["vec_step"] - env_ms, 4),
            "policy_and_sb3_ms_per_sample": round(rollout_ms - parts["vec_step"], 4),
        }
        if self.native:
            breakdown["native_step_ms_per_sample"] = round(parts["native_step"], 4)
            breakdown["native_resets_ms_per_sample"] = round(parts["native_reset"], 4)
            breakdown["action_wrappers_ms_per_sample"] = round(parts["env_step_async"], 4)
        result = {
            "n_envs": self.n_envs,
            "vec_env": "native" if self.native else "dummy",
            "n_steps": self.model.n_steps,
            "iterations_counted": len(self.rollouts),
            "rollout_ms_per_sample": round(rollout_ms, 4),
            "update_ms_per_sample": round(update_ms, 4),
            "frames_per_s": round(1e3 / (rollout_ms + update_ms)),
            "rollout_breakdown": breakdown,
        }
        print(
            f"PPO {result['vec_env']:>6} x{self.n_envs:<3} rollout {rollout_ms:.3f} ms/sample, "
            f"update {update_ms:.3f} ms/sample, {result['frames_per_s']:,} frames/s end to "
            f"end; rollout: {breakdown}",
            flush=True,
        )
        self.run.venv.close()
        return result


def ppo_timings(iterations: int, n_steps: int | None) -> list[dict[str, Any]]:
    """Today's set-up and the native one at 16 and 64 envs, their iterations taking turns.

    The first iteration of each is a warm-up, not counted; the turns make the three see the
    same machine (its speed drifts within minutes).
    """
    with tempfile.TemporaryDirectory() as out:
        setups = [
            PpoSetup(n, native, n_steps, f"{out}/{i}")
            for i, (n, native) in enumerate(((16, False), (16, True), (64, True)))
        ]
        for k in range(iterations):
            for setup in setups:
                setup.iteration(counted=k > 0)
        return [setup.result() for setup in setups]


def compiled_share(stepper: VecStepper, seconds: float) -> float:
    """The share of a native step spent in the compiled call, in a run of its own.

    The env calls ``step_many``'s compiled code directly once resolved (its ``_step_calls``);
    those calls are timed here, after the rounds: a timer costs each step about half a µs,
    which the rounds' rates must not carry.
    """
    calls = stepper.env._step_calls
    original = dict(calls)
    spent = {"s": 0.0}
    for key, call in original.items():
        calls[key] = _timed(call, spent, "s")
    _, elapsed = stepper.run(seconds)
    calls.update(original)
    return spent["s"] / elapsed


def _timed(method: Any, spent: dict[str, float], key: str) -> Any:
    """``method``, adding the time of every call to ``spent[key]``."""
    spent.setdefault(key, 0.0)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - start

    return timed


def _time_calls(obj: Any, name: str, spent: dict[str, float], key: str) -> None:
    """Add the time of every call of ``obj.name`` to ``spent[key]``."""
    spent[key] = 0.0
    setattr(obj, name, _timed(getattr(obj, name), spent, key))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short rounds, small PPO runs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per mode and round")
    parser.add_argument("--iterations", type=int, default=3, help="PPO iterations per set-up")
    opts = parser.parse_args()
    rounds, seconds, iterations = opts.rounds, opts.seconds, opts.iterations
    n_steps = None
    if opts.quick:
        rounds, seconds, iterations, n_steps = 1, 0.5, 2, 64
    import torch

    torch.set_num_threads(1)
    steps = env_steps(rounds, seconds)
    ppo = ppo_timings(iterations, n_steps)
    today, native16, native64 = ppo
    step_ratio = steps[16]["ratio"]
    rollout_ratio = today["rollout_ms_per_sample"] / native64["rollout_ms_per_sample"]
    meets_steps = step_ratio >= TARGET_STEP_RATIO
    meets_rollout = rollout_ratio >= TARGET_ROLLOUT_RATIO
    print(
        f"\nN=16: native steps {step_ratio:.1f}x SyncVectorEnv's "
        f"({'meets' if meets_steps else 'misses'} the >= {TARGET_STEP_RATIO:g}x target); "
        f"rollout per sample at 64 native envs {rollout_ratio:.1f}x faster than today's "
        f"16-env DummyVecEnv ({'meets' if meets_rollout else 'misses'} the >= "
        f"{TARGET_ROLLOUT_RATIO:g}x target)."
    )
    result = {
        "benchmark": "vec",
        "env_id": ENV_ID,
        "env_steps_per_s": {
            str(n): {k: round(v, 0 if k in ("native", "sync") else 3) for k, v in s.items()}
            for n, s in steps.items()
        },
        "native_vs_sync_at_16": round(step_ratio, 2),
        "target_native_vs_sync_at_16": TARGET_STEP_RATIO,
        "meets_step_target": meets_steps,
        "ppo": ppo,
        "rollout_speedup_native64_vs_today": round(rollout_ratio, 2),
        "rollout_speedup_native16_vs_today": round(
            today["rollout_ms_per_sample"] / native16["rollout_ms_per_sample"], 2
        ),
        "target_rollout_speedup": TARGET_ROLLOUT_RATIO,
        "meets_rollout_target": meets_rollout,
        "rounds": rounds,
        "seconds_per_round": seconds,
        "quick": opts.quick,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "themis_env": themis_env.__version__,
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
