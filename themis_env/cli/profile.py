"""``themis-env profile MODEL``: measure a real model here and write its model YAML."""

from __future__ import annotations

import argparse
import shlex

__all__ = ["add_parser", "int_list"]


def int_list(text: str) -> tuple[int, ...]:
    """Parse ``1,2,4`` or ``1-4`` (or a mix, ``1-2,8``) into whole numbers."""
    values: list[int] = []
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            if sep:
                values.extend(range(int(low), int(high) + 1))
            else:
                values.append(int(low))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of whole numbers (e.g. 1,2,4 or 1-4)"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} lists no number")
    return tuple(values)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``profile MODEL``."""
    parser = subparsers.add_parser(
        "profile",
        help="measure a model's batch latency on this machine and write its model YAML",
        description=(
            "Run a torchvision classification or detection architecture (randomly "
            "initialised) or a module:callable torch module on this machine, pinned to 1..c "
            "cores, over batch sizes; fit l(b, c) = alpha*b/c + beta*b + gamma/c + zeta and "
            "write a model YAML the simulator loads, with the raw measurements in a CSV "
            'beside it. Needs the profile extra: pip install "themis-env[profile]".'
        ),
    )
    parser.add_argument(
        "model", metavar="MODEL", help="torchvision architecture (resnet18) or module:callable"
    )
    parser.add_argument("--cores", type=int_list, default=(1, 2), help="core counts (default 1,2)")
    parser.add_argument(
        "--batches", type=int_list, default=(1, 2, 4, 8), help="batch sizes (default 1,2,4,8)"
    )
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per point (10)")
    parser.add_argument("--warmup", type=int, default=3, help="discarded runs per point (3)")
    parser.add_argument(
        "--input-shape",
        type=int_list,
        default=None,
        help="one request's input shape, e.g. 3,224,224 (needed for module:callable)",
    )
    parser.add_argument("--name", default=None, help="model name (default from MODEL)")
    parser.add_argument(
        "--out", default=None, help="model YAML to write (default profiles/NAME.yaml)"
    )
    parser.add_argument(
        "--slo-ms",
        type=float,
        default=None,
        help="also write NAME.pipeline.yaml: one stage on the model with this SLO [ms]",
    )
    parser.add_argument(
        "--trace",
        default=None,
        help="with --slo-ms, also write NAME.scenario.yaml serving this trace on that pipeline",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of random weights and inputs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=_cmd_profile)


def _command(args: argparse.Namespace) -> str:
    # The measuring options as given, so the comment in the YAML re-runs the same profile.
    words = ["themis-env", "profile", args.model]
    for flag, value in (
        ("--cores", args.cores),
        ("--batches", args.batches),
        ("--input-shape", args.input_shape),
    ):
        if value is not None:
            words += [flag, ",".join(map(str, value))]
    words += [
        "--repeats",
        str(args.repeats),
        "--warmup",
        str(args.warmup),
        "--seed",
        str(args.seed),
    ]
    return shlex.join(words)


def _cmd_profile(args: argparse.Namespace) -> int:
    from themis_env.profiling import ProfilePlan, run_profile, write_profile
    from themis_env.profiling.output import default_name

    plan = ProfilePlan(
        model=args.model,
        cores=args.cores,
        batches=args.batches,
        repeats=args.repeats,
        warmup=args.warmup,
        input_shape=args.input_shape,
        seed=args.seed,
    )
    name = args.name or default_name(args.model)
    out = args.out or f"profiles/{name}.yaml"
    result = run_profile(plan, progress=not args.no_progress)
    command = _command(args)
    files = write_profile(
        result, out, name=name, command=command, slo_ms=args.slo_ms, trace=args.trace
    )
    fit = result.fit()
    alpha, beta, gamma, zeta = fit.params
    print(
        f"{name}: alpha {alpha:.3f}, beta {beta:.3f}, gamma {gamma:.3f}, zeta {zeta:.3f} ms; "
        f"fit error mean {100 * fit.mean_relative_error:.1f} %, "
        f"max {100 * fit.max_relative_error:.1f} %; load {result.load_time_s:.2f} s"
    )
    if fit.max_relative_error > 0.2:
        print(
            f"  the fit misses a point by {100 * fit.max_relative_error:.0f} %: noisy timings "
            f"(load average {result.machine.load_average:.1f} on {result.machine.usable_cpus} "
            "CPUs) or a model the form does not describe; see the table in the model YAML"
        )
    for label, path in (
        ("model", files.model),
        ("measurements", files.measurements),
        ("pipeline", files.pipeline),
        ("scenario", files.scenario),
    ):
        if path is not None:
            print(f"  {label:<13} {path}")
    return 0
