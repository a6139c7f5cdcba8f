"""Train a stable-baselines3 agent on a themis-env scenario.

Example::

    python -m themis_env.agents.train --algo ppo --scenario video-arxiv-train \
        --eval-scenario video-arxiv-validation --timesteps 200000

Hyperparameters come from ``configs/agents/<algo>.yml`` (rl-zoo3 format, looked up by env id,
then ``default``); ``--hyperparams key=value`` and ``--env-kwargs key=value`` override them.
The run directory (``runs/<run_name>`` unless ``--out``) receives:

* ``<algo>.json`` + ``<algo>.policy.npz`` + ``<algo>.obs_rms.npz``: the final agent as data
  (what evaluation loads), and ``<algo>.zip`` + ``<algo>.vecnormalize.pkl`` for continuing;
* ``best/``: the agent with the best mean evaluation return (with ``--eval-scenario``);
* ``checkpoints/``: periodic agents (``--checkpoint-freq``);
* ``monitor/``: per-episode training returns; ``eval/``: evaluation returns and KPIs;
* ``progress.csv`` (and TensorBoard logs when ``tensorboard`` is installed);
* ``run.json``: arguments, seeds, the exact command, versions, wall time;
* ``training_curve.png`` (when matplotlib is installed).

``--export DIR`` copies the chosen agent, its curve and evaluation log into DIR (how the
agents in ``agents/zoo`` were made).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from themis_env.agents.algos import AlgoSpec, algo_class, algo_spec, schedule_objects
from themis_env.agents.artifacts import (
    AgentFiles,
    agent_files,
    env_interface,
    export_agent,
    interface_mismatches,
    library_versions,
    read_manifest,
    save_agent,
)
from themis_env.agents.envs import make_env_fn, make_vec_env
from themis_env.agents.hyperparams import HyperParams, load_hyperparams

from themis_env.config.assignments import parse_assignments
from themis_env.errors import ConfigError, ThemisError

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm
    from themis_env.agents.callbacks import TimeBudgetCallback

__all__ = ["Args", "TrainResult", "parse_args", "train", "main"]

DEFAULT_ENV = "themis_env/InferenceCluster-v0"
DEFAULT_SCENARIO = "video-arxiv-train"


@dataclass
class Args:
    """Arguments of one training run (the command line maps onto these fields)."""

    algo: str = "ppo"
    """Algorithm: ppo, a2c, dqn, sac, td3 or maskable_ppo."""
    env: str = DEFAULT_ENV
    """Env id; also the section looked up in the hyperparameter file."""
    scenario: list[str] = field(default_factory=list)
    """Training scenario(s); env i of the vector uses scenario i % len(scenario). Empty: the
    ``scenario`` of the hyperparameters' ``env_kwargs``, else the env id's own (a preset id's
    scenario; video-arxiv-train for the generic id)."""
    eval_scenario: list[str] = field(default_factory=list)
    """Held-out evaluation scenario(s), one deterministic episode each; none: no evaluation."""
    timesteps: int | None = None
    """Training budget in env steps (default: n_timesteps of the hyperparameter file)."""
    seed: int = 0
    """Seed of python, numpy, torch and the envs (env i gets seed + i)."""
    n_envs: int | None = None
    """Parallel training envs (default: n_envs of the hyperparameter file)."""
    out: str | None = None
    """Run directory (default: runs/<run_name>)."""
    run_name: str | None = None
    """Name of the run (default: <env>__<algo>__<seed>__<unix time>)."""
    config: str | None = None
    """Hyperparameter file (default: configs/agents/<algo>.yml)."""
    hyperparams: list[str] = field(default_factory=list)
    """Overrides key=value (value parsed as YAML), like rl-zoo3's -params."""
    env_kwargs: list[str] = field(default_factory=list)
    """Overrides of env_kwargs, key=value (value parsed as YAML)."""
    eval_freq: int = 10_000
    """Env steps (all envs together) between evaluations."""
    eval_seed: int = 10_000
    """Seed of the evaluation envs (the same at every evaluation, so they are comparable)."""
    checkpoint_freq: int = 0
    """Env steps between checkpoints; 0: none."""
    time_budget_min: float | None = None
    """Stop training after this many minutes of wall time (the steps done are recorded)."""
    threads: int = 1
    """Torch threads (1 is fastest for small MLPs and fair on shared machines)."""
    subproc: bool = False
    """Step the envs in subprocesses (SubprocVecEnv) instead of sequentially."""
    native_vec: bool = True
    """Step the envs in the native vector env (every cluster in one compiled call) where the
    id, scenarios and wrappers allow; off: a DummyVecEnv of single envs (the same episodes)."""
    export: str | None = None
    """Copy the chosen agent, its curve and evaluation log into this directory."""
    export_which: str = "best"
    """Agent --export copies: best (by evaluation return; final if none) or final."""
    plot: bool = True
    """Draw training_curve.png at the end."""
    verbose: int = 1
    """0: quiet; 1: SB3 progress tables on stdout."""
    trained_agent: str | None = None
    """Continue training this saved agent (``.zip``; its VecNormalize statistics are loaded
    too), like rl-zoo3's ``--trained-agent``: fine-tuning, e.g. under other reward weights. The
    env must match the interface it was trained on; the hyperparameters of this run apply.
    The zip and the ``.vecnormalize.pkl`` are unpickled, so this needs ``trust_agent``."""
    trust_agent: bool = False
    """Allow unpickling ``trained_agent`` (only for agents whose source you trust)."""


@dataclass(frozen=True)
class TrainResult:
    """Where a run put its outputs."""

    run_dir: Path
    final: Path
    best: Path | None
    wall_time_s: float
    timesteps: int


def _command(argv: Sequence[str] | None) -> str:
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join(shlex.quote(a) for a in ["python", "-m", "themis_env.agents.train", *args])


def _space_kind(space: Any) -> str:
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return "discrete"
    if isinstance(space, spaces.MultiDiscrete):
        return "multidiscrete"
    if isinstance(space, spaces.Box):
        return "box"
    return type(space).__name__


def _logger_formats(verbose: int) -> list[str]:
    formats = ["csv"]
    if verbose:
        formats.append("stdout")
    if importlib.util.find_spec("tensorboard") is not None:
        formats.append("tensorboard")
    return formats


def _scenarios(args: Args, hp: HyperParams) -> list[str]:
    """The training scenarios: ``--scenario``, else the hyperparameters', else the id's own."""
    if args.scenario:
        return list(args.scenario)
    if hp.env_kwargs.get("scenario"):
        return [str(hp.env_kwargs["scenario"])]
    if args.env == DEFAULT_ENV:
        return [DEFAULT_SCENARIO]
    import gymnasium as gym

    try:
        own = gym.spec(args.env).kwargs.get("scenario")
    except gym.error.Error as exc:
        raise ConfigError(f"--env {args.env!r}: {exc}") from exc
    return [str(own or DEFAULT_SCENARIO)]


def _seed_everything(seed: int, threads: int) -> None:
    # One seeding block: python, numpy and torch global generators; the envs are seeded
    # through the vector env (env i gets seed + i) and the model through its seed argument.
    import torch
    from stable_baselines3.common.utils import set_random_seed

    torch.set_num_threads(max(int(threads), 1))
    set_random_seed(seed)


@dataclass
class _Run:
    """What the set-up of a run decides, shared by the steps that follow it."""

    args: Args
    spec: AlgoSpec
    cls: type[BaseAlgorithm]
    hp: HyperParams
    n_envs: int
    timesteps: int
    run_name: str
    run_dir: Path
    env_kwargs: dict[str, Any]
    venv: Any
    """The training vector env (inside VecNormalize when the hyperparameters ask for it)."""
    action_kind: str
    parent: AgentFiles | None
    """The agent training continues from (``--trained-agent``)."""
    manifest: dict[str, Any]
    """Saved beside every agent of the run."""
    record: dict[str, Any]
    """The content of ``run.json``."""

    def write_record(self) -> None:
        """Write ``run.json``."""
        text = json.dumps(self.record, indent=2) + "\n"
        (self.run_dir / "run.json").write_text(text, encoding="utf-8")


def train(args: Args, argv: Sequence[str] | None = None) -> TrainResult:
    """Run one training run: set-up, model, callbacks, learn, then save and report.

    Args:
        args: The run's arguments.
        argv: The command line, recorded in the manifests (default: ``sys.argv``).

    Raises:
        ConfigError: unknown algorithm, bad hyperparameters, or an action space the
            algorithm cannot use.
    """
    run = _setup_run(args, argv)
    model = _setup_model(run)
    callbacks, best_path, budget = _setup_callbacks(run)
    start = time.perf_counter()
    model.learn(
        total_timesteps=run.timesteps,
        callback=callbacks or None,
        reset_num_timesteps=run.parent is None,
    )
    wall = time.perf_counter() - start
    model.logger.close()  # flushes and closes progress.csv (and TensorBoard's files)
    return _finish(run, model, wall, best_path, budget)


def _setup_run(args: Args, argv: Sequence[str] | None) -> _Run:
    """Hyperparameters, run directory, seeds, the training envs and the run's records.

    Writes ``run.json`` with status ``running``.
    """
    from stable_baselines3.common.vec_env import VecNormalize

    spec = algo_spec(args.algo)
    cls = algo_class(args.algo)
    overrides = parse_assignments(args.hyperparams, "--hyperparams")
    if args.env_kwargs:
        overrides["env_kwargs"] = parse_assignments(args.env_kwargs, "--env-kwargs")
    hp: HyperParams = load_hyperparams(args.algo, args.env, args.config, overrides=overrides)
    args = replace(args, scenario=_scenarios(args, hp))
    if args.export_which not in ("best", "final"):
        raise ConfigError(f"--export-which = {args.export_which!r}; allowed: best, final")
    n_envs = args.n_envs or hp.n_envs
    timesteps = int(args.timesteps if args.timesteps is not None else hp.n_timesteps)
    env_name = args.env.replace("/", "-")
    run_name = args.run_name or f"{env_name}__{args.algo}__{args.seed}__{int(time.time())}"
    run_dir = Path(args.out) if args.out else Path("runs") / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    command = _command(argv)

    _seed_everything(args.seed, args.threads)

    env_kwargs = dict(hp.env_kwargs)
    env_kwargs.pop("scenario", None)  # --scenario decides
    venv = make_vec_env(
        args.env,
        args.scenario,
        env_kwargs,
        hp.env_wrapper,
        n_envs,
        run_dir / "monitor",
        args.subproc,
        args.native_vec,
    )
    kind = _space_kind(venv.action_space)
    if kind not in spec.action_spaces:
        venv.close()
        raise ConfigError(
            f"{args.algo} needs a {' or '.join(spec.action_spaces)} action space but the env gives "
            f"{venv.action_space} (action_mode={env_kwargs.get('action_mode', 'target')!r}, "
            f"wrappers={hp.env_wrapper}); set action_mode / env_wrapper in {hp.source}"
        )
    probe = make_env_fn(args.env, args.scenario[0], env_kwargs)()
    interface = env_interface(probe, hp.env_wrapper)
    parent = None
    if args.trained_agent:
        parent = _check_trained_agent(args.trained_agent, probe, args.trust_agent)
    probe.close()
    if hp.normalize is not None:
        if parent is not None and parent.vecnormalize.is_file():
            # Keep the parent's statistics: its policy reads observations normalised by them.
            venv = VecNormalize.load(str(parent.vecnormalize), venv)
            venv.training = True
            venv.norm_obs = bool(hp.normalize.get("norm_obs", True))
            venv.norm_reward = bool(hp.normalize.get("norm_reward", True))
        else:
            venv = VecNormalize(venv, **hp.normalize)
    manifest: dict[str, Any] = {
        "algo": args.algo,
        "algo_class": spec.entry_point,
        "env_id": args.env,
        "env_kwargs": env_kwargs,
        "env_wrapper": hp.env_wrapper,
        "action_mode": env_kwargs.get("action_mode", "target"),
        "obs_mode": env_kwargs.get("obs_mode", "dict"),
        "normalize": hp.normalize,
        "interface": interface,
        "scenarios": list(args.scenario),
        "eval_scenarios": list(args.eval_scenario),
        "seed": args.seed,
        "env_seeds": [args.seed + i for i in range(n_envs)],
        "eval_seed": args.eval_seed,
        "n_envs": n_envs,
        "timesteps": timesteps,
        "torch_threads": args.threads,
        "hyperparams": hp.as_record(),
        "command": command,
        "run_name": run_name,
        "trained_agent": str(parent.model) if parent is not None else None,
        "versions": library_versions(),
    }
    run = _Run(
        args=args,
        spec=spec,
        cls=cls,
        hp=hp,
        n_envs=n_envs,
        timesteps=timesteps,
        run_name=run_name,
        run_dir=run_dir,
        env_kwargs=env_kwargs,
        venv=venv,
        action_kind=kind,
        parent=parent,
        manifest=manifest,
        record={"args": asdict(args), **manifest, "status": "running"},
    )
    run.write_record()
    return run


def _setup_model(run: _Run) -> BaseAlgorithm:
    """A new model, or the parent agent's with this run's settings, logging into the run."""
    from stable_baselines3.common.logger import configure

    venv, seed = run.venv, run.args.seed
    action_dim = int(np.prod(venv.action_space.shape)) if run.action_kind == "box" else None
    model_kwargs = run.hp.model_kwargs(run.cls, action_dim)
    if run.parent is not None:
        # The network comes from the parent; every other setting from this run.
        model_kwargs.pop("policy_kwargs", None)
        model = run.cls.load(
            str(run.parent.model),
            env=venv,
            seed=seed,
            verbose=0,
            device="cpu",
            custom_objects=schedule_objects(run.cls, model_kwargs),
            **model_kwargs,
        )
    else:
        model = run.cls(run.hp.policy, venv, seed=seed, verbose=0, device="cpu", **model_kwargs)
    model.set_logger(configure(str(run.run_dir), _logger_formats(run.args.verbose)))
    # A continued agent counts on from its parent's steps; the curve offsets its episodes.
    run.record["start_timesteps"] = int(model.num_timesteps)
    return model


def _setup_callbacks(run: _Run) -> tuple[list[Any], Path | None, TimeBudgetCallback | None]:
    """Evaluation (keeping the best agent), checkpoints and the time budget, as configured.

    Returns:
        The callbacks, where the best agent is saved (None without evaluation), and the time
        budget callback (None without a budget).
    """
    from stable_baselines3.common.vec_env import VecNormalize
    from themis_env.agents.callbacks import (
        CheckpointAgentCallback,
        SaveAgentCallback,
        TimeBudgetCallback,
        kpi_eval_callback,
    )

    args, hp, run_dir = run.args, run.hp, run.run_dir
    callbacks: list[Any] = []
    best_path: Path | None = None
    if args.eval_scenario:
        eval_venv = make_vec_env(
            args.env,
            args.eval_scenario,
            run.env_kwargs,
            _eval_wrappers(hp.env_wrapper),
            len(args.eval_scenario),
            native=args.native_vec,
        )
        if hp.normalize is not None:
            eval_venv = VecNormalize(
                eval_venv,
                training=False,
                norm_reward=False,
                **{k: v for k, v in hp.normalize.items() if k not in ("norm_reward", "gamma")},
            )
        eval_venv.seed(args.eval_seed)
        best_path = run_dir / "best" / args.algo
        (run_dir / "eval").mkdir(exist_ok=True)
        callbacks.append(
            kpi_eval_callback(
                run.spec.maskable,
                run_dir / "eval" / "kpis.jsonl",
                eval_env=eval_venv,
                callback_on_new_best=SaveAgentCallback(best_path, run.manifest),
                n_eval_episodes=len(args.eval_scenario),
                eval_freq=max(args.eval_freq // run.n_envs, 1),
                log_path=str(run_dir / "eval"),
                deterministic=True,
                verbose=args.verbose,
                seed=args.eval_seed,
            )
        )
    if args.checkpoint_freq > 0:
        callbacks.append(
            CheckpointAgentCallback(
                args.checkpoint_freq, run_dir / "checkpoints", run.manifest, n_envs=run.n_envs
            )
        )

    budget = TimeBudgetCallback(args.time_budget_min) if args.time_budget_min else None
    if budget is not None:
        callbacks.append(budget)
    return callbacks, best_path, budget


def _finish(
    run: _Run,
    model: BaseAlgorithm,
    wall: float,
    best_path: Path | None,
    budget: TimeBudgetCallback | None,
) -> TrainResult:
    """Save the final agent, complete ``run.json``, draw the curve and export the chosen agent."""
    args, run_dir = run.args, run.run_dir
    run.manifest["wall_time_s"] = round(wall, 1)
    run.manifest["stopped_by_time_budget"] = bool(budget and budget.stopped)
    final_files = save_agent(model, run_dir / args.algo, run.manifest)
    best = None
    if best_path is not None and agent_files(best_path).model.is_file():
        best = agent_files(best_path).model
    run.record.update(
        status="done",
        wall_time_s=round(wall, 1),
        stopped_by_time_budget=run.manifest["stopped_by_time_budget"],
        timesteps_trained=int(model.num_timesteps),
        final=str(final_files.model),
        best=str(best) if best else None,
    )
    run.write_record()
    run.venv.close()

    if args.plot:
        from themis_env.agents.curves import plot_training_curve

        plot_training_curve(run_dir, run_dir / "training_curve.png", title=run.run_name)
    if args.export:
        chosen = best if args.export_which == "best" and best else final_files.model
        export_agent(chosen, Path(args.export), run_dir, run.record)
    return TrainResult(run_dir, final_files.model, best, wall, int(model.num_timesteps))


def _check_trained_agent(path: str, env: Any, trust: bool) -> AgentFiles:
    """The files of the agent to continue from, checked against the training env.

    Raises:
        ConfigError: without ``trust`` (its zip and statistics are unpickled), or for an
            agent trained on another interface.
    """
    files = agent_files(path)
    if not trust:
        raise ConfigError(
            f"--trained-agent {files.model}: continuing training unpickles its zip and "
            ".vecnormalize.pkl, which runs any code they carry; add --trust-agent if you "
            "trust where they came from"
        )
    trained = read_manifest(files.model).get("interface", {})
    problems = interface_mismatches(trained, env)
    if problems:
        raise ConfigError(
            f"--trained-agent {files.model} was trained on another interface: "
            + "; ".join(problems)
        )
    return files


def _eval_wrappers(wrappers: Sequence[Any]) -> list[Any]:
    """The training wrappers minus the ones that only choose training windows."""
    from themis_env.agents.envs import wrapper_path
    from themis_env.agents.wrappers import TRAINING_ONLY_WRAPPERS

    return [w for w in wrappers if wrapper_path(w) not in TRAINING_ONLY_WRAPPERS]


def parse_args(argv: Sequence[str] | None = None) -> Args:
    """Command-line arguments to :class:`Args` (the field docs are the help texts)."""
    defaults = Args()
    parser = argparse.ArgumentParser(
        prog="python -m themis_env.agents.train",
        description="Train a stable-baselines3 agent on themis-env (hyperparameters from "
        "configs/agents/<algo>.yml, rl-zoo3 format).",
    )
    parser.add_argument("--algo", default=defaults.algo, help="ppo a2c dqn sac td3 maskable_ppo")
    parser.add_argument("--env", default=defaults.env, help="env id (YAML section looked up)")
    parser.add_argument(
        "--scenario",
        action="append",
        default=None,
        help="training scenario; repeat to mix several (default: the hyperparameters' "
        "env_kwargs scenario, else the env id's own; video-arxiv-train for the generic id)",
    )
    parser.add_argument(
        "--eval-scenario",
        action="append",
        default=[],
        help="held-out evaluation scenario (repeatable)",
    )
    parser.add_argument("--timesteps", type=int, default=None, help="training budget [env steps]")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--n-envs", type=int, default=None)
    parser.add_argument("--out", default=None, help="run directory (default runs/<run_name>)")
    parser.add_argument("--run-name", default=None)
    parser.add_argument("--config", default=None, help="hyperparameter YAML file")
    parser.add_argument(
        "--hyperparams",
        "-params",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="hyperparameter overrides, e.g. n_steps=256 learning_rate=lin_1e-3",
    )
    parser.add_argument(
        "--env-kwargs",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="env_kwargs overrides, e.g. action_mode=delta",
    )
    parser.add_argument("--eval-freq", type=int, default=defaults.eval_freq)
    parser.add_argument("--eval-seed", type=int, default=defaults.eval_seed)
    parser.add_argument("--checkpoint-freq", type=int, default=defaults.checkpoint_freq)
    parser.add_argument(
        "--time-budget-min",
        type=float,
        default=None,
        help="stop after this many minutes of wall time",
    )
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--subproc", action="store_true")
    parser.add_argument(
        "--no-native-vec",
        dest="native_vec",
        action="store_false",
        help="step the envs one by one (DummyVecEnv) instead of in the native vector env",
    )
    parser.add_argument("--export", default=None, help="copy the chosen agent into this directory")
    parser.add_argument("--export-which", default=defaults.export_which, choices=("best", "final"))
    parser.add_argument("--no-plot", dest="plot", action="store_false")
    parser.add_argument("--verbose", type=int, default=defaults.verbose)
    parser.add_argument(
        "--trained-agent",
        "-i",
        default=None,
        help="continue training this saved agent (.zip) with its normalisation statistics",
    )
    parser.add_argument(
        "--trust-agent",
        action="store_true",
        help="allow unpickling --trained-agent (only for agents whose source you trust)",
    )
    ns = parser.parse_args(argv)
    values = vars(ns)
    if values["scenario"] is None:
        values["scenario"] = []
    return Args(**values)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m themis_env.agents.train``."""
    args = parse_args(argv)
    try:
        result = train(args, argv)
    except ThemisError as exc:
        print(f"themis_env.agents.train: error: {exc}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                "run_dir": str(result.run_dir),
                "final": str(result.final),
                "best": str(result.best) if result.best else None,
                "timesteps": result.timesteps,
                "wall_time_s": round(result.wall_time_s, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
