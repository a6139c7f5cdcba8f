"""Registered env ids: one generic id and preset ids for the main scenarios.

Registration happens on ``import themis_env`` and is idempotent. Gymnasium 1.x has no plugin
entry points, so ``gym.make("themis_env:themis_env/Video-Bursty-v0")`` (module before the colon)
is the form that works in fresh processes.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

__all__ = ["ENTRY_POINT", "NAMESPACE", "PRESETS", "register_envs", "registered_ids"]

NAMESPACE = "themis_env"
ENTRY_POINT = "themis_env.envs.inference_cluster:InferenceClusterEnv"

# id name → scenario. The Twitter presets fall back to the calibrated synthetic trace (and say
# so in info["trace_fallback"]) where the real trace file is absent.
PRESETS: dict[str, str] = {
    "InferenceCluster": "video-arxiv-bursty",
    **{
        f"{pipe.capitalize()}-{pattern.capitalize()}": f"{pipe}-arxiv-{pattern}"
        for pipe in ("video", "sentiment", "nlp")
        for pattern in ("bursty", "steady", "fluctuating", "twitter")
    },
}
VERSION = 0


def registered_ids() -> list[str]:
    """Every env id this package registers."""
    return [f"{NAMESPACE}/{name}-v{VERSION}" for name in PRESETS]


def register_envs() -> None:
    """Register every id (a no-op for ids already registered)."""
    for name, scenario in PRESETS.items():
        env_id = f"{NAMESPACE}/{name}-v{VERSION}"
        if env_id in registry:
            continue
        register(id=env_id, entry_point=ENTRY_POINT, kwargs={"scenario": scenario}, nondeterministic=False)
