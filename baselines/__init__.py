"""Reference policies for themis-env, behind one interface and a name registry."""

from baselines.base import Policy, make_policy, policy_names, register_policy

__all__ = ["Policy", "make_policy", "policy_names", "register_policy"]
