"""Tiny training runs shared by the agent tests."""

from pathlib import Path
from typing import Any

from themis_env.agents.train import Args


def tiny_args(tmp_path: Path, algo: str, hyperparams: list[str], **extra: Any) -> Args:
    """A run of a few hundred steps on the 60-s smoke scenario, quiet and without a plot."""
    fields: dict[str, Any] = dict(
        algo=algo,
        scenario=["smoke-video"],
        timesteps=256,
        n_envs=2,
        seed=1,
        out=str(tmp_path / algo),
        hyperparams=list(hyperparams),
        env_kwargs=["episode_s=60"],
        plot=False,
        verbose=0,
    )
    fields.update(extra)
    return Args(**fields)
