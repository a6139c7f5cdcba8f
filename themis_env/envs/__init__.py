"""The Gymnasium side of themis-env: the env class, its spaces, wrappers and registration."""

from themis_env.envs.inference_cluster import DEFAULT_SCENARIO, InferenceClusterEnv
from themis_env.envs.registration import register_envs, registered_ids

__all__ = ["DEFAULT_SCENARIO", "InferenceClusterEnv", "register_envs", "registered_ids"]
