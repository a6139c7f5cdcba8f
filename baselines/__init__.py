"""Reference policies for themis-env, behind one interface and a name registry.

``make_policy(name, env, **params)`` builds any of them; names map to lazy ``module:Class``
entry points so importing :mod:`baselines` loads no policy code.
"""

from themis_env.baselines.base import Policy, make_policy, policy_names, register_policy

__all__ = ["Policy", "make_policy", "policy_names", "register_policy"]

register_policy("themis", "themis_env.baselines.themis.policy:ThemisPolicy")
register_policy("horizontal", "themis_env.baselines.themis.policy:HorizontalOnlyPolicy")
register_policy("vertical", "themis_env.baselines.themis.policy:VerticalOnlyPolicy")
register_policy("oracle", "themis_env.baselines.themis.policy:OraclePolicy")
register_policy("hpa", "themis_env.baselines.hpa:HPAPolicy")
register_policy("vpa", "themis_env.baselines.vpa:VPAPolicy")
register_policy("static", "themis_env.baselines.simple:StaticPolicy")
register_policy("random", "themis_env.baselines.simple:RandomPolicy")
