"""The ``agent:PATH.zip`` policy references: a saved stable-baselines3 agent.

:data:`AGENT_SCHEME` is the ``agent`` scheme of the core's policy registry (entry point
``themis_env.policy_schemes`` in ``pyproject.toml``), so the evaluation harness finds, checks
and loads agents without naming this package.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from themis_env.agents.artifacts import agent_files, is_legacy, read_manifest
from themis_env.agents.evaluate import (
    agent_fits,
    load_agent,
    required_env_kwargs,
    trusted_by_environment,
)

from themis_env.errors import PolicyError

__all__ = ["AGENT_SCHEME", "AgentScheme"]

# Relative agent paths are also tried from the folder holding this package, so suites can name
# shipped agents as agent:agents/zoo/<name>/<file>.zip from any folder, checkout or wheel.
_SHIPPED_ROOT = Path(__file__).parent.parent


class AgentScheme:
    """``agent:PATH.zip``: a stable-baselines3 agent loaded by :func:`load_agent`.

    The manifest, weights and normalisation statistics are read from beside the zip (which
    need not exist when they do). A relative path is tried from the current folder, then from
    the folder holding ``agents/``. A legacy agent (pickled files only) is built only when
    ``--trust-agent`` was given (:data:`~themis_env.evaluation.registry.TRUST_VAR`).
    """

    prefix = "agent:"

    def path(self, ref: str) -> Path:
        """The agent's zip (or where it would be, beside the manifest of a safe agent).

        Raises:
            PolicyError: when ``ref`` does not name a ``.zip`` or neither the zip nor its
                manifest exists.
        """
        path = Path(ref[len(self.prefix) :]).expanduser()
        if path.suffix != ".zip":
            raise PolicyError(
                f"policy {ref!r}: an agent policy is 'agent:PATH.zip' (a stable-baselines3 zip)"
            )
        for candidate in (path, None if path.is_absolute() else _SHIPPED_ROOT / path):
            if candidate is not None and (
                candidate.is_file() or agent_files(candidate).manifest.is_file()
            ):
                return candidate
        raise PolicyError(f"policy {ref!r}: agent file {str(path)!r} does not exist")

    def check(self, ref: str) -> None:
        """Raise :class:`PolicyError` when the zip is misnamed or missing."""
        self.path(ref)

    def identity(self, ref: str) -> str:
        """``ref`` plus a hash of what acts: two agents at one path must not share finished runs.

        The files hashed are the ones loading reads: the weights and statistics of a safe
        agent, the zip of a legacy one.
        """
        path = self.path(ref)
        files = agent_files(path)
        try:
            legacy = is_legacy(read_manifest(path))
        except PolicyError:  # no readable manifest: building will say why; the zip is all
            legacy = True
        if legacy:
            acting = [files.model]
        else:
            acting = [files.weights, files.obs_rms]
        digest = hashlib.sha256()
        for file in acting:
            if file.is_file():
                digest.update(file.read_bytes())
        return f"{ref}#sha256={digest.hexdigest()[:16]}"

    def env_modes(self, ref: str) -> dict[str, str]:
        """The action and observation modes the agent was trained with (from its manifest).

        Raises:
            PolicyError: when the manifest cannot be read.
        """
        path = self.path(ref)
        try:
            return required_env_kwargs(str(path))
        except Exception as exc:  # noqa: BLE001 (an unreadable manifest; load_agent says more)
            raise PolicyError(f"policy {ref!r}: cannot read the agent's manifest: {exc}") from exc

    def mismatches(self, ref: str, env: Any) -> list[str]:
        """How ``env`` differs from the interface the agent was trained on (empty: it fits)."""
        return list(agent_fits(str(self.path(ref)), env))

    def build(self, ref: str, env: Any, **params: Any) -> Any:
        """The loaded agent, acting on ``env``.

        Raises:
            PolicyError: for parameters (agents take none), missing files or an env the agent
                was not trained for.
        """
        path = self.path(ref)
        if params:
            raise PolicyError(
                f"policy {ref!r}: agent policies take no parameters, got {sorted(params)}"
            )
        return load_agent(str(path), env, trust=trusted_by_environment())


AGENT_SCHEME = AgentScheme()
