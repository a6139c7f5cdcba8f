"""Run a seed or hyperparameter sweep of ``agents.train`` through Ray Tune.

Each trial is one ``python -m themis_env.agents.train`` run with its own seed and
hyperparameter overrides, written to ``OUT/<trial>/`` as an ordinary run directory, so
``python -m themis_env.agents.select OUT/<trial>`` chooses its checkpoint and
``agents.evaluate`` loads its agents. ``OUT/sweep.json`` lists the trials, their run
directories and their last validation figures.

Example (two seeds × two learning rates on a local Ray; the training arguments follow ``--``)::

    python -m themis_env.agents.tune --out runs/sweep --seeds 0 1 \
        --grid learning_rate=lin_3e-4,lin_1e-4 -- --algo ppo --timesteps 200000 \
        --eval-scenario video-arxiv-val-bursty

A local Ray with ``--cpus`` CPUs is started by default; ``--address`` joins an existing
cluster (``auto``, or ``ray://host:10001``). On a cluster, ``--out`` must be a folder every
node writes to (a shared filesystem): each trial writes its run directory where it runs.
Needs ``pip install "themis-env[tune]"`` (Ray Tune).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from themis_env.agents.train import Args, parse_args, train

from themis_env.errors import ConfigError, DependencyNotInstalled, ThemisError

__all__ = ["Trial", "trials", "sweep", "main"]


@dataclass(frozen=True)
class Trial:
    """One training run of a sweep.

    Attributes:
        name: The trial's folder name under the sweep's ``--out``.
        seed: Its seed.
        overrides: Its hyperparameter overrides (``key=value``), after the base run's.
    """

    name: str
    seed: int
    overrides: tuple[str, ...]


def _grid(specs: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``key=v1,v2`` entries to (key, values).

    Raises:
        ConfigError: for an entry without ``=`` or without values.
    """
    out = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        choices = [v for v in values.split(",") if v]
        if not sep or not key or not choices:
            raise ConfigError(f"--grid {spec!r}: give key=value1,value2 (e.g. n_steps=256,512)")
        out.append((key, choices))
    return out


def trials(seeds: Sequence[int], grid: Sequence[str] = ()) -> list[Trial]:
    """Every combination of a seed and one value per grid key, in a stable order."""
    axes = _grid(grid)
    out = []
    for seed in seeds:
        for values in itertools.product(*(choices for _, choices in axes)):
            pairs = [f"{key}={value}" for (key, _), value in zip(axes, values, strict=True)]
            name = "__".join([f"seed{seed}", *(p.replace("=", "-") for p in pairs)])
            out.append(Trial(name, int(seed), tuple(pairs)))
    return out


def _last_validation(run_dir: Path) -> dict[str, Any]:
    """The last line of the run's ``eval/kpis.jsonl`` (empty without evaluation)."""
    path = run_dir / "eval" / "kpis.jsonl"
    if not path.is_file():
        return {}
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def _absolute(args: dict[str, Any]) -> dict[str, Any]:
    """The training arguments with file paths made absolute (trials run in other folders)."""
    out = dict(args)
    for key in ("config", "trained_agent"):
        if out.get(key):
            out[key] = str(Path(out[key]).resolve())
    for key in ("scenario", "eval_scenario"):
        out[key] = [str(Path(s).resolve()) if Path(s).is_file() else s for s in out[key]]
    return out


def _run_trial(config: dict[str, Any]) -> None:
    """Ray Tune's function trainable: one ``train`` run, its summary reported to Tune."""
    import os

    from ray import tune

    for name, value in config["environment"].items():
        if value is not None:
            os.environ[name] = value
    trial = config["trial"]
    args = Args(**config["args"])
    args = replace(
        args,
        seed=trial["seed"],
        hyperparams=[*args.hyperparams, *trial["overrides"]],
        out=str(Path(config["out"]) / trial["name"]),
        run_name=trial["name"],
        export=None,
    )
    # The trial's own command: the sweep's training arguments plus what the trial sets.
    command = [*config["train_argv"], "--seed", str(args.seed), "--out", args.out]
    command += ["--run-name", trial["name"]]
    if args.hyperparams:
        command += ["--hyperparams", *args.hyperparams]
    result = train(args, argv=command)
    tune.report(
        {
            "trial": trial["name"],
            "run_dir": str(result.run_dir),
            "timesteps": result.timesteps,
            "wall_time_s": round(result.wall_time_s, 1),
            **{f"val_{k}": v for k, v in _last_validation(result.run_dir).items()},
        }
    )


# Environment variables a trial needs from the process that started the sweep.
_TRIAL_ENVIRONMENT = ("THEMIS_TRACE_DIR", "THEMIS_TRACE_CACHE")


def sweep(
    base: Args,
    out: str | Path,
    seeds: Sequence[int],
    grid: Sequence[str] = (),
    address: str | None = None,
    cpus: int = 2,
    cpus_per_trial: float = 1.0,
    train_argv: Sequence[str] = (),
    command: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Run every trial on Ray Tune; return (and write to ``OUT/sweep.json``) their summaries.

    A Ray started here (local, or connected to ``address``) is shut down before returning,
    also on error. A trial that fails is listed with its error; the others still run.

    Raises:
        DependencyNotInstalled: without Ray Tune.
        ConfigError: for a malformed grid or no seeds.
    """
    import os

    try:
        import ray
        from ray import tune
    except ImportError as exc:
        raise DependencyNotInstalled(
            'themis_env.agents.tune needs Ray Tune: pip install "themis-env[tune]"'
        ) from exc
    if not seeds:
        raise ConfigError("--seeds: give at least one seed")
    plan = trials(seeds, grid)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        tuner = tune.Tuner(
            tune.with_resources(_run_trial, {"cpu": cpus_per_trial}),
            param_space={
                "trial": tune.grid_search([asdict(t) for t in plan]),
                "args": _absolute(asdict(base)),
                "train_argv": list(train_argv),
                "out": str(out),
                "environment": {k: os.environ.get(k) for k in _TRIAL_ENVIRONMENT},
            },
            tune_config=tune.TuneConfig(
                trial_name_creator=lambda t: t.config["trial"]["name"],
                trial_dirname_creator=lambda t: t.config["trial"]["name"],
            ),
            run_config=tune.RunConfig(name="tune", storage_path=str(out / "ray"), verbose=0),
        )
        results = tuner.fit()
        summaries = []
        for result in results:
            row = dict(result.metrics or {})
            if result.error is not None:
                row["error"] = f"{type(result.error).__name__}: {result.error}"
            row["trial"] = (result.config or {}).get("trial", {}).get("name", row.get("trial"))
            summaries.append({k: v for k, v in row.items() if _ours(k, v)})
    finally:
        if started:
            ray.shutdown()
    summaries.sort(key=lambda r: [t.name for t in plan].index(r["trial"]))
    text = json.dumps({"trials": summaries, "command": list(command)}, indent=2) + "\n"
    (out / "sweep.json").write_text(text, encoding="utf-8")
    return summaries


_SUMMARY_KEYS = ("trial", "run_dir", "timesteps", "wall_time_s", "error")


def _ours(key: str, value: Any) -> bool:
    """Whether a reported entry belongs in ``sweep.json`` (Tune adds its own bookkeeping)."""
    plain = isinstance(value, (str, int, float, bool)) or value is None
    return plain and (key in _SUMMARY_KEYS or key.startswith("val_"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m themis_env.agents.tune``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    own, train_argv = argv, []
    if "--" in argv:
        cut = argv.index("--")
        own, train_argv = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m themis_env.agents.tune",
        description="Seed or hyperparameter sweep of themis_env.agents.train on Ray Tune; the "
        "training arguments follow '--'.",
    )
    parser.add_argument("--out", required=True, help="sweep folder: one run directory per trial")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one trial per seed")
    parser.add_argument(
        "--grid",
        nargs="*",
        default=[],
        metavar="KEY=V1,V2",
        help="hyperparameter values to cross with the seeds, e.g. learning_rate=lin_3e-4,lin_1e-4",
    )
    parser.add_argument(
        "--address", default=None, help="join this Ray cluster (auto, ray://host:10001)"
    )
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--cpus-per-trial", type=float, default=1.0)
    ns = parser.parse_args(own)
    try:
        base = parse_args(train_argv)
        summaries = sweep(
            base,
            ns.out,
            ns.seeds,
            ns.grid,
            address=ns.address,
            cpus=ns.cpus,
            cpus_per_trial=ns.cpus_per_trial,
            train_argv=train_argv,
            command=["python", "-m", "themis_env.agents.tune", *argv],
        )
    except ThemisError as exc:
        print(f"themis_env.agents.tune: error: {exc}", file=sys.stderr)
        return 2
    for row in summaries:
        print(json.dumps(row))
    failed = [r for r in summaries if "error" in r]
    print(
        json.dumps(
            {"out": str(Path(ns.out).resolve()), "trials": len(summaries), "failed": len(failed)}
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
