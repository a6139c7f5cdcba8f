"""What a policy may read from the env: two typed views, one for all policies, one privileged.

Baselines and learned agents act on the observation they are given and on static knowledge
of the scenario, as a real autoscaler acts on its monitoring and its offline profiles.
:class:`PolicyView` declares that knowledge (and the action and observation codecs);
:class:`PrivilegedView` adds the episode's trace, which no real autoscaler has and which only
policies that say so in their names (``static``, ``oracle``) read. :class:`InferenceClusterEnv`
implements both; a policy takes the view it needs with :func:`policy_view` or
:func:`privileged_view` instead of reaching into the env (its simulator, its private state).

Both protocols are ``runtime_checkable``. On Python below 3.12 ``isinstance`` reads every
member, and :attr:`PrivilegedView.episode_rates` raises before the first ``reset()``;
:func:`missing_members` checks without reading, so it answers at any time.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from themis_env.config import ClusterConfig, Pipeline, ScenarioConfig
from themis_env.envs.actions import StageLimits
from themis_env.envs.observations import ObservationLayout
from themis_env.sim.simulator import StageDecision

__all__ = ["PolicyView", "PrivilegedView", "missing_members", "policy_view", "privileged_view"]


@runtime_checkable
class PolicyView(Protocol):
    """What every policy may read: static scenario knowledge and the env's codecs.

    Static members do not change during an episode. :attr:`current_targets` and
    :meth:`free_cores` are the cluster's state now, the same facts the observation reports
    (unclipped), as a real autoscaler reads back its Deployments and the nodes' allocatable
    cores; :meth:`unresized_replicas` is the resize status of its pods.
    """

    @property
    def scenario(self) -> ScenarioConfig:
        """The scenario as loaded: pipeline name, SLO, trace spec, cluster, reward weights."""
        ...

    @property
    def pipeline(self) -> Pipeline:
        """The stages' models: latency profiles l(b, c) [ms], pod memory [GB], the preset name."""
        ...

    @property
    def cluster(self) -> ClusterConfig:
        """Nodes, cores per node, resize delay [s] and cold-start distribution of the cluster."""
        ...

    @property
    def stage_limits(self) -> Sequence[StageLimits]:
        """Per stage in pipeline order: replica bounds, most cores per replica, largest batch."""
        ...

    @property
    def n_stages(self) -> int:
        """Number of stages in the pipeline."""
        ...

    @property
    def slo_ms(self) -> float:
        """End-to-end latency SLO [ms]."""
        ...

    @property
    def decision_interval_s(self) -> float:
        """Time between two decisions, one ``step`` [s]."""
        ...

    @property
    def action_mode(self) -> str:
        """Action form the env takes: ``target``, ``delta`` or ``continuous``."""
        ...

    @property
    def obs_mode(self) -> str:
        """Observation form the env gives: ``dict`` or ``flat``."""
        ...

    @property
    def action_space(self) -> gym.Space[Any]:
        """The env's own action space (of :attr:`action_mode`)."""
        ...

    @property
    def layout(self) -> ObservationLayout:
        """Keys, shapes, units and bounds of the observation, in flat order."""
        ...

    @property
    def current_targets(self) -> list[StageDecision]:
        """(replicas, cores per replica, batch [requests]) per stage now in force."""
        ...

    def free_cores(self) -> np.ndarray:
        """Free cores per node now [cores]."""
        ...

    def unresized_replicas(self) -> np.ndarray:
        """Per stage, replicas whose in-place resize to the stage's cores was not accepted.

        Kubernetes's PodResizePending (Deferred, or Infeasible beyond a node's cores; failed
        under ``cluster.resize_policy: fail``), read as an autoscaler reads its pods' resize
        status [replicas].
        """
        ...

    def obs_as_dict(self, obs: Any) -> dict[str, np.ndarray]:
        """The dict form of an observation of this env (given flat or as a dict)."""
        ...

    def encode_targets(self, targets: Sequence[Sequence[int]]) -> np.ndarray:
        """The action, in :attr:`action_mode`, asking for (replicas, cores, batch) per stage."""
        ...


@runtime_checkable
class PrivilegedView(PolicyView, Protocol):
    """The view of a privileged policy: :class:`PolicyView` plus the episode's trace.

    A policy that reads these is an upper bound, not a competitor, and says so in its name
    and its ``privileged`` flag.
    """

    @property
    def episode_rates(self) -> np.ndarray:
        """The episode's true arrival rate per second, from its first second [req/s]."""
        ...

    def future_rates(self, horizon_s: int) -> np.ndarray:
        """The true rates of the next ``horizon_s`` seconds from now [req/s] (0 past the end)."""
        ...


def missing_members(obj: Any, protocol: type) -> list[str]:
    """The members of ``protocol`` that ``obj`` lacks (empty: it provides them all).

    Unlike ``isinstance``, runs no property, so it answers before ``reset()`` too.
    """
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls is Protocol or not getattr(cls, "_is_protocol", False):
            continue
        names.update(n for n in vars(cls) if not n.startswith("_"))
        names.update(n for n in getattr(cls, "__annotations__", {}) if not n.startswith("_"))
    missing = []
    for name in sorted(names):
        try:
            inspect.getattr_static(obj, name)
        except AttributeError:
            missing.append(name)
    return missing


def policy_view(env: Any) -> PolicyView:
    """The env below ``env``'s gymnasium wrappers, read as a :class:`PolicyView`.

    A policy keeps this instead of the env, so what it reads is declared here. No member is
    checked (a policy's tests may hand it a stand-in with only what it reads); see
    :func:`missing_members` for a check.
    """
    view: PolicyView = getattr(env, "unwrapped", env)
    return view


def privileged_view(env: Any) -> PrivilegedView:
    """The env below ``env``'s gymnasium wrappers, read as a :class:`PrivilegedView`.

    Only policies that say they are privileged (``static``, ``oracle``) take this view.
    """
    view: PrivilegedView = getattr(env, "unwrapped", env)
    return view
