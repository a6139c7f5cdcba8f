"""Two reference points: a static allocation sized from the trace, and uniform random actions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces
from themis_env.baselines.base import Policy

from themis_env.envs.views import policy_view, privileged_view
from themis_env.errors import PolicyError, did_you_mean

__all__ = ["StaticPolicy", "RandomPolicy", "size_stage"]

STATIC_MODES = ("peak", "mean")


def size_stage(
    latency: Any,
    rate_rps: float,
    batch: int,
    max_cores: int,
    min_replicas: int,
    max_replicas: int,
    *,
    utilisation: float = 1.0,
    max_service_ms: float | None = None,
) -> tuple[int, int]:
    """The cheapest (replicas, cores) of one stage that serves ``rate_rps`` at ``batch``.

    For each core count c, the replicas needed are ⌈rate / (utilisation · throughput(b, c))⌉
    (at least ``min_replicas``); the choice minimises replicas × cores, then the service time.
    Core counts whose batch service time exceeds ``max_service_ms`` are left out while any
    other fits. When no count fits within ``max_replicas``, the largest capacity is returned.

    Args:
        latency: The stage's latency model (``throughput_rps(b, c)``, ``service_ms(b, c)``).
        rate_rps: Load to serve [req/s].
        batch: Batch size.
        max_cores: Most cores per replica.
        min_replicas: Fewest replicas.
        max_replicas: Most replicas.
        utilisation: Busy fraction the replicas should run at (capacity = rate / utilisation).
        max_service_ms: Latency budget of one batch [ms]; None for no budget.
    """
    options = []
    for c in range(1, max_cores + 1):
        capacity = utilisation * latency.throughput_rps(batch, c)
        n = max(min_replicas, int(math.ceil(rate_rps / capacity - 1e-9)))
        service = latency.service_ms(batch, c)
        within = max_service_ms is None or service <= max_service_ms
        options.append((not within, n > max_replicas, n * c, service, n, c))
    if all(o[0] for o in options):  # no core count meets the budget: ignore it
        options = [(False, *o[1:]) for o in options]
    best = min(options)
    if best[1]:  # even the best does not fit: the most capacity the limits allow
        c = max(range(1, max_cores + 1), key=lambda k: (latency.throughput_rps(batch, k), -k))
        return max_replicas, c
    return best[4], best[5]


class StaticPolicy(Policy):
    """A fixed allocation sized for the peak or the mean load of the episode (privileged).

    **Observes:** nothing while it runs. At the first step of an episode it reads the
    episode's true rates (``episode_rates`` of :class:`~themis_env.envs.views.PrivilegedView`,
    information no real autoscaler has, hence ``privileged``) and the batch sizes of the first
    observation, then sizes every stage with :func:`size_stage` from the stage's latency model
    (``throughput_rps(b, c)``); each request visits every stage, so each stage serves the
    whole rate. Every stage's batch service time is kept within SLO / stages where a core count
    allows it. The allocation is asked for as is: what the cluster cannot place stays pending.

    **Parameters:**

    * ``mode`` = ``"peak"``: size for the largest per-second rate, or ``"mean"`` for the mean.
    * ``utilisation`` = 1.0: replicas run at most this busy at that rate.

    **Source:** the usual static-provisioning baselines of autoscaling papers (peak
    provisioning as the over-provisioned upper bound of cost, mean as the under-provisioned
    one); the latency model is the Themis/Sponge l(b, c) profile.
    """

    name = "static"
    privileged = True

    def __init__(self, env: Any, *, mode: str = "peak", utilisation: float = 1.0) -> None:
        if mode not in STATIC_MODES:
            raise PolicyError(
                f"static: mode = {mode!r} is not allowed.{did_you_mean(mode, STATIC_MODES)} "
                f"Choose one of {list(STATIC_MODES)}"
            )
        if not 0 < utilisation <= 1:
            raise PolicyError(f"static: utilisation = {utilisation} must be in (0, 1]")
        super().__init__(env, mode=mode, utilisation=utilisation)
        self.mode = mode
        self.utilisation = float(utilisation)
        self.view = privileged_view(env)
        self.targets: list[tuple[int, int, int]] | None = None

    def reset(self) -> None:
        """Size again at the next step (the next episode's trace may differ)."""
        self.targets = None

    def sized_rate(self) -> float:
        """The rate the allocation is sized for [req/s]."""
        rates = np.asarray(self.view.episode_rates, dtype=float)
        if rates.size == 0:
            return 0.0
        return float(rates.max() if self.mode == "peak" else rates.mean())

    def act(self, obs: Any) -> np.ndarray:
        """The episode's fixed targets."""
        if self.targets is None:
            d = self.view.obs_as_dict(obs)
            rate = self.sized_rate()
            budget = self.view.slo_ms / self.view.n_stages
            targets = []
            models = self.view.pipeline.models
            for s, (lim, model) in enumerate(zip(self.view.stage_limits, models, strict=True)):
                batch = int(round(float(d["batch"][s])))
                n, c = size_stage(
                    model.latency, rate, batch, lim.max_cores, lim.min_replicas, lim.max_replicas,
                    utilisation=self.utilisation, max_service_ms=budget,
                )  # fmt: skip
                targets.append((n, c, batch))
            self.targets = targets
        return self.view.encode_targets(self.targets)


class RandomPolicy(Policy):
    """Uniformly random actions from the env's action space.

    **Observes:** nothing. **Parameters:** ``seed`` = 0; :meth:`reset` restarts the generator
    from it, so every episode sees the same action sequence for a given seed. Supports
    ``MultiDiscrete``, ``Discrete`` and ``Box`` action spaces.

    **Source:** the usual lower reference point of RL benchmarks.
    """

    name = "random"
    privileged = False

    def __init__(self, env: Any, *, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise PolicyError(f"random: seed = {seed!r} must be a non-negative int")
        super().__init__(env, seed=int(seed))
        self.seed = int(seed)
        self.space = getattr(env, "action_space", None) or policy_view(env).action_space
        if not isinstance(self.space, (spaces.MultiDiscrete, spaces.Discrete, spaces.Box)):
            raise PolicyError(
                f"random: action space {self.space} is not MultiDiscrete, Discrete or Box"
            )
        if isinstance(self.space, spaces.Box) and not self.space.is_bounded():
            raise PolicyError(f"random: action space {self.space} is unbounded")
        self.reset()

    def reset(self) -> None:
        """Restart the generator from ``seed``."""
        self._rng = np.random.default_rng(self.seed)

    def act(self, obs: Any) -> np.ndarray:
        """One uniform draw from the action space."""
        space = self.space
        if isinstance(space, spaces.MultiDiscrete):
            draw = self._rng.integers(0, space.nvec)
            return (draw + space.start).astype(space.dtype)
        if isinstance(space, spaces.Discrete):
            return np.asarray(space.start + self._rng.integers(space.n), dtype=space.dtype)
        assert isinstance(space, spaces.Box)
        return self._rng.uniform(space.low, space.high).astype(space.dtype)
