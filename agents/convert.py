"""Convert a trusted legacy agent to the safe format (loading it then runs no code).

An agent saved before :mod:`themis_env.agents.safe_format` has only ``NAME.zip`` and
``NAME.vecnormalize.pkl``, which are unpickled when loaded. This tool loads them once, which
is why it asks for ``--trust-agent``, and writes beside them the policy's weights
(``NAME.policy.npz``), the observation statistics (``NAME.obs_rms.npz``) and their description
in the manifest ``NAME.json``. The zip and the pickle are left in place: continuing training
(``--trained-agent``) needs the optimizer state they hold.

```bash
python -m themis_env.agents.convert --trust-agent agents/zoo/*/ppo.zip
```
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path

from themis_env.agents.algos import algo_class, schedule_objects
from themis_env.agents.artifacts import (
    AgentFiles,
    agent_files,
    read_manifest,
    write_manifest,
    write_safe_files,
)

from themis_env.errors import PolicyError, ThemisError

__all__ = ["convert_agent", "main"]


def convert_agent(path: str | Path, trust: bool = False) -> AgentFiles:
    """Write the safe files of the legacy agent saved as ``path`` (``.zip``).

    Args:
        path: The agent's zip (its ``.vecnormalize.pkl`` and ``.json`` beside it).
        trust: Must be True: the conversion unpickles the agent's files.

    Returns:
        The agent's files.

    Raises:
        PolicyError: without ``trust``, for missing files, or a policy that cannot be stored
            as data.
    """
    files = agent_files(path)
    if not trust:
        raise PolicyError(
            f"converting {files.model} unpickles it, which runs any code it carries: pass "
            "--trust-agent (trust=True) if you trust where it came from"
        )
    manifest = read_manifest(files.model)
    if not files.model.is_file():
        raise PolicyError(f"agent file {files.model} does not exist")
    cls = algo_class(manifest["algo"])
    model = cls.load(str(files.model), device="cpu", custom_objects=schedule_objects(cls))
    vec_normalize = None
    if manifest.get("vecnormalize"):
        if not files.vecnormalize.is_file():
            raise PolicyError(f"{files.vecnormalize} is missing beside {files.model}")
        with files.vecnormalize.open("rb") as fh:
            vec_normalize = pickle.load(fh)  # noqa: S301 - the caller trusts this agent
    manifest.update(write_safe_files(files, cls, model.policy, vec_normalize))
    manifest.pop("format", None)
    write_manifest(files.model, manifest)
    return files


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m themis_env.agents.convert``."""
    parser = argparse.ArgumentParser(
        prog="python -m themis_env.agents.convert",
        description="Write the safe files (weights and statistics as arrays) of legacy agents.",
    )
    parser.add_argument("paths", nargs="+", help="the agents' .zip files")
    parser.add_argument(
        "--trust-agent",
        action="store_true",
        help="required: the conversion unpickles the agents (only for agents you trust)",
    )
    args = parser.parse_args(argv)
    try:
        for path in args.paths:
            files = convert_agent(path, trust=args.trust_agent)
            print(f"{files.model}: wrote {files.weights.name}, manifest {files.manifest.name}")
    except ThemisError as exc:
        print(f"themis_env.agents.convert: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
