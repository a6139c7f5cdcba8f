"""Profiler check: profile a real model here and set the fit beside a shipped profile.

Profiles ``--model`` (default torchvision ``resnet18``) over ``--cores`` and ``--batches``
through :func:`themis_env.profiling.run_profile`, fits l(b, c) = α·b/c + β·b + γ/c + ζ, and
prints, per point, the median and p99 measured, the fit, and the shipped Themis profile of the
same model (``--compare``, default ``themis-arxiv/resnet18``, fitted by the Themis authors on
their machine), with the machine's load average: timings on a loaded machine are slow and
noisy. The numbers say how far this machine is from the paper's, not whether the code is
right; the tests check the code.

Run on an idle machine: ``python benchmarks/bench_profiler.py [--cores 1-4] [--repeats 20]``.
Needs the ``profile`` extra. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json

from themis_env.cli.profile import int_list
from themis_env.config import load_model
from themis_env.profiling import ProfilePlan, run_profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--compare", default="themis-arxiv/resnet18", help="shipped model")
    parser.add_argument("--cores", type=int_list, default=(1, 2))
    parser.add_argument("--batches", type=int_list, default=(1, 2, 4, 8))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--input-shape", type=int_list, default=None)
    args = parser.parse_args()
    plan = ProfilePlan(
        args.model,
        cores=args.cores,
        batches=args.batches,
        repeats=args.repeats,
        warmup=args.warmup,
        input_shape=args.input_shape,
    )
    result = run_profile(plan, progress=True)
    fit = result.fit()
    shipped = load_model(args.compare).latency if args.compare else None
    m = result.machine
    print(
        f"{args.model} on {m.cpu_model}, torch {m.torch_version}, {m.usable_cpus} CPUs, "
        f"load average {m.load_average:.2f}; model load {result.load_time_s:.2f} s"
    )
    print("cores batch  median_ms    p99_ms    fit_ms  shipped_ms")
    for p in result.measurements:
        ship = f"{shipped.service_ms(p.batch, p.cores):>10.2f}" if shipped else ""
        print(
            f"{p.cores:>5} {p.batch:>5} {p.median_ms:>10.2f} {p.p99_ms:>9.2f} "
            f"{fit.predict_ms(p.batch, p.cores):>9.2f}  {ship}"
        )
    print(
        json.dumps(
            {
                "model": args.model,
                "alpha_beta_gamma_zeta": [round(v, 4) for v in fit.params],
                "fit_error_mean": round(fit.mean_relative_error, 4),
                "fit_error_max": round(fit.max_relative_error, 4),
                "shipped": list(shipped.params) if shipped else None,
                "load_time_s": round(result.load_time_s, 3),
                "load_average": round(m.load_average, 2),
                "torch": m.torch_version,
            }
        )
    )


if __name__ == "__main__":
    main()
