"""themis-env: a Gymnasium benchmark for autoscaling ML inference serving.

``import themis_env`` registers the env ids (``themis_env.registered_ids()``); then
``gym.make("themis_env/InferenceCluster-v1", scenario="video-arxiv-bursty")``.
"""

from themis_env.envs.registration import register_envs, registered_ids

__version__ = "0.1.0"
__all__ = ["__version__", "register_envs", "registered_ids"]

register_envs()
