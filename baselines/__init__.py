"""Reference policies for themis-env, behind one interface and a name registry.

``make_policy(name, env, **params)`` builds any of them; names map to lazy ``module:Class``
entry points so importing :mod:`baselines` loads no policy code.
"""

from baselines.base import Policy, make_policy, policy_names, register_policy

__all__ = ["Policy", "make_policy", "policy_names", "register_policy"]

register_policy("themis", "baselines.themis.policy:ThemisPolicy")
register_policy("horizontal", "baselines.themis.policy:HorizontalOnlyPolicy")
register_policy("vertical", "baselines.themis.policy:VerticalOnlyPolicy")
register_policy("oracle", "baselines.themis.policy:OraclePolicy")
register_policy("hpa", "baselines.hpa:HPAPolicy")
register_policy("vpa", "baselines.vpa:VPAPolicy")
register_policy("static", "baselines.simple:StaticPolicy")
register_policy("random", "baselines.simple:RandomPolicy")
