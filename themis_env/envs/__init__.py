"""The Gymnasium side of themis-env: the env class, its spaces, wrappers and registration."""

from themis_env.envs.inference_cluster import DEFAULT_SCENARIO, InferenceClusterEnv
from themis_env.envs.registration import register_envs, registered_ids
from themis_env.envs.vector import InferenceClusterVectorEnv
from themis_env.envs.wrappers import ClipAction, DiscreteActionWrapper

__all__ = [
    "DEFAULT_SCENARIO",
    "ClipAction",
    "DiscreteActionWrapper",
    "InferenceClusterEnv",
    "InferenceClusterVectorEnv",
    "register_envs",
    "registered_ids",
]
