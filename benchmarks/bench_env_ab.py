"""Env step A/B: this checkout's env step against other checkouts', side by side, beside CartPole.

Each env runs in a process of its own (``PYTHONPATH`` set to its checkout, so two versions of
``themis_env`` never meet in one interpreter), and the processes take turns: each round asks
every process in turn for a slice of ``--seconds`` of steps, in alternating order. A slice is
timed in the process's CPU time (``time.process_time``), so the time a loaded machine gives to
other processes does not count; the ratios are medians over rounds of per-round ratios, which
is what stays steady on a shared machine (absolute µs still drift with the load).

Extract a checkout to compare with, e.g. ``git archive 70c2b97 | tar -x -C /tmp/base``; its
simulator compiles on first use (about 15 s, cached in that folder afterwards).

Run: ``python benchmarks/bench_env_ab.py --tree base=/tmp/base [--mode sim]``. The last line is
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ID = "themis_env/InferenceCluster-v0"

# The worker: builds one env (or CartPole), then answers each "SECONDS" line on stdin with
# "STEPS CPU_SECONDS" for a slice of random-action steps (truncated episodes reset inside).
WORKER = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import gymnasium as gym
import numpy as np
env_id, mode = sys.argv[1], sys.argv[2]
if env_id != "CartPole-v1":
    import themis_env  # registers the ids of the checkout on PYTHONPATH
env = gym.make(env_id)
env.reset(seed=0)
env.action_space.seed(0)
actions = [env.action_space.sample() for _ in range(4096)]
step, reset = env.step, env.reset
if mode != "full" and env_id != "CartPole-v1":
    base = env.unwrapped
    reset = base.reset
    if mode == "unwrapped":
        step = base.step
    else:  # "sim": the simulator's compiled interval only, as the env calls it
        def step(action):
            buf = np.empty(base._obs_size, dtype=np.float32)
            base.sim.run_interval(
                action, base.decision_interval_s, buf, base._obs_high, base._action_lows
            )
            return None, 0.0, False, base.sim.time >= base._episode_s - 1e-9, None
n = 0
def run(seconds):
    global n
    start, steps = time.process_time(), 0
    while True:
        for i in range(64):
            _, _, terminated, truncated, _ = step(actions[(n + i) % 4096])
            if terminated or truncated:
                reset()
        n += 64
        steps += 64
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return steps, elapsed
run(0.3)
print("ready", flush=True)
for line in sys.stdin:
    print(*run(float(line)), flush=True)
"""


def spawn(tree: Path | None, env_id: str, mode: str) -> subprocess.Popen[str]:
    """A worker stepping ``env_id`` from checkout ``tree`` (None: CartPole)."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, env_id if tree else "CartPole-v1", mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd="/" if tree is None else str(tree),
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the worker for {tree} did not start (see its error above)")
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a checkout to compare (repeatable); this checkout is always 'here'",
    )
    parser.add_argument("--env-id", default=DEFAULT_ID)
    parser.add_argument(
        "--mode",
        choices=("full", "unwrapped", "sim"),
        default="full",
        help="gym.make's stack (default), the bare env, or the simulator's call alone",
    )
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=0.12, help="CPU seconds per slice")
    args = parser.parse_args()
    trees = {"here": ROOT}
    for item in args.tree:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).is_dir() or name in trees:
            raise SystemExit(f"--tree {item!r}: write NAME=PATH, a new name and a folder")
        trees[name] = Path(path).resolve()
    procs = {"CartPole-v1": spawn(None, args.env_id, args.mode)}
    procs.update({name: spawn(tree, args.env_id, args.mode) for name, tree in trees.items()})
    us: dict[str, list[float]] = {name: [] for name in procs}
    try:
        for r in range(args.rounds):
            order = list(procs) if r % 2 == 0 else list(reversed(procs))
            for name in order:
                proc = procs[name]
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(f"{args.seconds}\n")
                proc.stdin.flush()
                steps, seconds = proc.stdout.readline().split()
                us[name].append(1e6 * float(seconds) / int(steps))
    finally:
        for proc in procs.values():
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait()
    cartpole = us.pop("CartPole-v1")

    def ratio(a: list[float], b: list[float]) -> float:
        return statistics.median(x / y for x, y in zip(a, b, strict=True))

    print(f"{'checkout':<12} {'µs/step':>8} {'× CartPole':>11} {'× here':>8}")
    print(f"{'CartPole-v1':<12} {statistics.median(cartpole):>8.2f}")
    for name, values in us.items():
        print(
            f"{name:<12} {statistics.median(values):>8.2f} {ratio(values, cartpole):>11.3f} "
            f"{ratio(values, us['here']):>8.3f}"
        )
    print(
        json.dumps(
            {
                "benchmark": "env_ab",
                "env_id": args.env_id,
                "mode": args.mode,
                "us_per_step": {k: round(statistics.median(v), 2) for k, v in us.items()},
                "cartpole_us_per_step": round(statistics.median(cartpole), 2),
                "cost_vs_cartpole": {k: round(ratio(v, cartpole), 3) for k, v in us.items()},
                "cost_vs_here": {k: round(ratio(v, us["here"]), 3) for k, v in us.items()},
                "trees": {k: str(v) for k, v in trees.items()},
                "rounds": args.rounds,
                "cpu_seconds_per_slice": args.seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
