"""Reference policies for themis-env, behind one interface and the core's policy registry.

``make_policy(name, env, **params)`` builds any of them (and any other registered policy).
Their names are ``themis_env.policies`` entry points of the themis-env distribution
(``pyproject.toml``): the registry reads those without importing this package, and imports a
policy's module only when the policy is built.
"""

from themis_env.baselines.base import Policy

from themis_env.evaluation.registry import make_policy, policy_names, register_policy

__all__ = ["Policy", "make_policy", "policy_names", "register_policy"]
