"""Profiles made from a known latency form, so writing and fitting are tested without torch."""

from __future__ import annotations

import numpy as np

from themis_env.profiling import MachineInfo, Measurement, ModelInfo, ProfilePlan, ProfileResult


def latency(params: tuple[float, float, float, float], batch: float, cores: float) -> float:
    alpha, beta, gamma, zeta = params
    return alpha * batch / cores + beta * batch + gamma / cores + zeta


def synthetic_result(
    params: tuple[float, float, float, float] = (30.0, 2.0, 20.0, 10.0),
    *,
    cores: tuple[int, ...] = (1, 2),
    batches: tuple[int, ...] = (1, 2, 4),
    repeats: int = 3,
    noise: float = 0.0,
    accuracy: float | None = 69.758,
) -> ProfileResult:
    """A profile whose runs follow ``params``, times a lognormal noise of σ ``noise``."""
    rng = np.random.default_rng(0)
    points = tuple(
        Measurement(
            c,
            b,
            tuple(float(latency(params, b, c) * rng.lognormal(0.0, noise)) for _ in range(repeats)),
        )
        for c in cores
        for b in batches
    )
    return ProfileResult(
        plan=ProfilePlan(model="resnet18", cores=cores, batches=batches, repeats=repeats),
        model=ModelInfo(
            ref="resnet18",
            family="classification",
            input_shape=(3, 224, 224),
            parameters=11_689_512,
            accuracy=accuracy,
            accuracy_metric="top-1" if accuracy is not None else "",
            accuracy_source="torchvision ResNet18_Weights.IMAGENET1K_V1 ImageNet-1K acc@1",
            library="torchvision 0.28.0",
        ),
        measurements=points,
        machine=MachineInfo("Test CPU", 2, 2, "2.13.0+cpu", "3.11.7", "Linux"),
        load_time_s=2.5,
        peak_rss_gb=0.42,
        started_utc="2026-12-03T15:00:00+00:00",
    )
