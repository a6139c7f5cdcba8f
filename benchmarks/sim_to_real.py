"""Sim-to-real check: serve one trace window for real and in the simulator, compare.

Profiles ``--model`` (default a small CNN, ``themis_env.realserve.models:SmallCNN``, 3×64×64
per request) on 1..N cores of this machine, writes its model YAML, a one-stage pipeline and a
scenario, then serves a trace window (``synthetic:fluctuating``, Poisson arrivals inside each
second, mean rate ``--utilisation`` of what one replica of one core serves at ``--batch``) twice
on real replica processes (:mod:`themis_env.realserve`): a fixed configuration (one replica,
one core), and a schedule (a second replica at 1/4 of the window: a process start and model
load; back to one at 1/2; a second later an in-place resize of the remaining replica to all N
cores). The simulator steps the Gymnasium env through the same decisions on the fitted profile
(``--sim-seeds`` seeds averaged), with the backend's measured resize delay and the profile's
load time as cold start.

Headline errors are (sim − real) / real, the larger in size of the two cases; violation rates
are the mean of the two cases. ``cases.*.service_time_error`` is the served batches' mean
service time over the fit's, minus 1: the part of the gap the latency model itself explains
(contention with other processes, fit error) rather than queueing or batching. On a shared
machine record the load average with the figures (it is in the JSON).

Run: ``python benchmarks/sim_to_real.py [--duration 60] [--out DIR]``. Needs the ``profile``
extra (torch). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from themis_env.cli.profile import int_list
from themis_env.realserve.check import CheckPlan, run_check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="themis_env.realserve.models:SmallCNN")
    parser.add_argument("--input-shape", type=int_list, default=(3, 64, 64))
    parser.add_argument("--cpus", type=int_list, default=tuple(sorted(os.sched_getaffinity(0))))
    parser.add_argument("--batches", type=int_list, default=(1, 2, 4, 8))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--batch-timeout-ms", type=float, default=20.0)
    parser.add_argument("--slo-ms", type=float, default=150.0)
    parser.add_argument("--duration", type=int, default=60, help="trace window [s]")
    parser.add_argument("--utilisation", type=float, default=0.35)
    parser.add_argument("--sim-seeds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seed of the real run's arrivals")
    parser.add_argument(
        "--trace",
        default=CheckPlan.trace,
        help="synthetic pattern and parameters; mean and duration are added",
    )
    parser.add_argument("--out", default=None, help="folder for the profile and scenario files")
    args = parser.parse_args()
    plan = CheckPlan(
        args.model,
        args.input_shape,
        cpus=args.cpus,
        batches=args.batches,
        repeats=args.repeats,
        batch=args.batch,
        batch_timeout_ms=args.batch_timeout_ms,
        slo_ms=args.slo_ms,
        duration_s=args.duration,
        utilisation=args.utilisation,
        seed=args.seed,
        trace=args.trace,
        sim_seeds=args.sim_seeds,
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_check(plan, args.out or tmp, progress=True, log=print)
    summary = result.summary()
    summary["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
