"""Registered env ids: one generic id and preset ids for the main scenarios.

Registration happens on ``import themis_env`` and is idempotent. Gymnasium 1.x has no plugin
entry points, so ``gym.make("themis_env:themis_env/Video-Bursty-v1")`` (module before the
colon) is the form that works in a fresh process without importing the package first.

Every preset is just a ``scenario`` keyword on the one entry point; any other keyword of
:class:`~themis_env.envs.inference_cluster.InferenceClusterEnv` can still be passed to
``gym.make``. The Twitter presets always exist: where the real trace file is absent they run
on the scenario's calibrated synthetic fallback and say so (``info["trace_fallback"]``).
"""

from __future__ import annotations

import sys

from gymnasium.envs import registration as gym_registration
from gymnasium.envs.registration import register, registry

from themis_env.config.schema import ENV_VERSION_DEFAULTS, LATEST_ENV_VERSION

__all__ = [
    "ENTRY_POINT",
    "NAMESPACE",
    "PRESETS",
    "VECTOR_ENTRY_POINT",
    "VERSION",
    "VERSIONS",
    "preset_scenarios",
    "register_envs",
    "registered_ids",
    "time_limit_of_make",
]

NAMESPACE = "themis_env"
ENTRY_POINT = "themis_env.envs.inference_cluster:InferenceClusterEnv"
# gym.make_vec builds this for every id: N clusters stepped in one compiled call. (So no id
# lists additional wrappers, which Gymnasium refuses beside it; the env reads a
# gym.make(..., max_episode_steps=N) limit itself: see time_limit_of_make.)
VECTOR_ENTRY_POINT = "themis_env.envs.vector:InferenceClusterVectorEnv"
# Bump when dynamics or reward change: add the new version's defaults to ENV_VERSION_DEFAULTS.
# Every version stays registered (``-v0`` ids run the v0 dynamics), so agents trained on one
# and records written under it still replay.
VERSION = LATEST_ENV_VERSION
VERSIONS = tuple(sorted(ENV_VERSION_DEFAULTS))

# id name → scenario: the generic id, the three paper pipelines × four traces, then the
# model-variant settings (InfAdapter's, and the video pipeline with all three scaling axes).
PRESETS: dict[str, str] = {
    "InferenceCluster": "video-arxiv-bursty",
    **{
        f"{pipe.capitalize()}-{pattern.capitalize()}": f"{pipe}-arxiv-{pattern}"
        for pipe in ("video", "sentiment", "nlp")
        for pattern in ("bursty", "steady", "fluctuating", "twitter")
    },
    "InfAdapter-Resnet": "infadapter-resnet",
    "Video-Variants": "video-arxiv-variants",
    "IPA-Video": "ipa-video-bursty",
}


def _env_id(name: str, version: int = VERSION) -> str:
    return f"{NAMESPACE}/{name}-v{version}"


def preset_scenarios(version: int = VERSION) -> dict[str, str]:
    """Every id of ``version`` (default: the latest) and the scenario it runs by default."""
    return {_env_id(name, version): scenario for name, scenario in PRESETS.items()}


def registered_ids(version: int = VERSION) -> list[str]:
    """Every env id this package registers for ``version``, the generic one first."""
    return list(preset_scenarios(version))


def register_envs() -> None:
    """Register every id of every version; ids already registered are left alone."""
    for version in VERSIONS:
        for env_id, scenario in preset_scenarios(version).items():
            if env_id in registry:
                continue
            register(
                id=env_id,
                entry_point=ENTRY_POINT,
                kwargs=_kwargs(scenario, version),
                nondeterministic=False,
                vector_entry_point=VECTOR_ENTRY_POINT,
            )


def _kwargs(scenario: str, version: int) -> dict[str, object]:
    # The latest version is the env's own default: its ids' specs carry the scenario alone.
    if version == VERSION:
        return {"scenario": scenario}
    return {"scenario": scenario, "env_version": version}


def time_limit_of_make(depth: int = 2) -> int | None:
    """The step limit of the ``gym.make`` call building the env whose ``__init__`` calls this.

    ``gym.make(id, max_episode_steps=N)`` wraps the env in a ``TimeLimit`` that truncates
    after N steps without telling the env, so the env could not put the episode's KPIs into
    that last step's info. Gymnasium offers no hook for it: a spec's ``additional_wrappers``
    (applied outside the limit) are refused beside the native vector env every id has. So the
    env reads the limit from the ``make`` call that creates it: ``make``'s ``max_episode_steps``
    argument, else its spec's. Only a frame running ``gymnasium.envs.registration.make``
    itself, within ``depth`` frames of the caller's caller (a subclass's ``__init__`` adds
    one), counts; anything else (direct construction, ``make_vec``'s native mode) gives None.
    ``tests/envs/test_episode.py`` checks this against the installed Gymnasium.
    """
    make_code = gym_registration.make.__code__
    frame = sys._getframe(2)  # noqa: SLF001 (1 is the env's __init__, 2 what called it)
    for _ in range(depth):
        if frame is None:
            return None
        if frame.f_code is make_code:
            limit = frame.f_locals.get("max_episode_steps")
            if limit is None:
                limit = getattr(frame.f_locals.get("env_spec"), "max_episode_steps", None)
            return limit if isinstance(limit, int) and limit > 0 else None
        frame = frame.f_back
    return None
