"""The one ``KEY=VALUE`` parser: dotted keys, YAML values (exponents are floats), clear errors."""

from __future__ import annotations

import pytest

from themis_env.config import load_scenario
from themis_env.config.assignments import parse_assignments, parse_value, split_assignment
from themis_env.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2e-1", 0.2),
        ("1e-5", 1e-5),
        ("-2.5E+1", -25.0),
        ("1.5e3", 1500.0),
        (".5e1", 5.0),
        ("3", 3),
        ("0.25", 0.25),
        ("true", True),
        ("e5", "e5"),
        ("lin_1e-3", "lin_1e-3"),
        ("'1e-3'", "1e-3"),
        ('"7"', "7"),
        ("[1e-3, 2, x]", [1e-3, 2, "x"]),
        ("{w_slo: 1.0, w_cost: 2e-1}", {"w_slo": 1.0, "w_cost": 0.2}),
        ("", ""),
    ],
)
def test_values_are_yaml_with_exponent_floats(text: str, expected: object) -> None:
    value = parse_value(text)
    assert value == expected and type(value) is type(expected)


def test_dotted_keys_nest_and_later_items_win() -> None:
    items = ["reward.w_cost=2e-1", "reward.w_slo=1", "episode_s=60", "episode_s=90", "a=b=c"]
    assert parse_assignments(items, "--override") == {
        "reward": {"w_cost": 0.2, "w_slo": 1},
        "episode_s": 90,
        "a": "b=c",
    }
    assert parse_assignments(None, "--override") == {}


def test_split_keeps_the_value_as_text() -> None:
    assert split_assignment(" column = 1 ", "--option") == ("column", "1")


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("nodes", "--override 'nodes' must be KEY=VALUE"),
        ("=3", "--override '=3' must be KEY=VALUE"),
        ("reward..w_cost=1", "the key 'reward..w_cost' has an empty part"),
        ("reward.w_cost=[1, 2", "--override 'reward.w_cost=[1, 2': the value is not valid YAML"),
    ],
)
def test_bad_items_name_the_argument(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        parse_assignments([item], "--override")


def test_a_key_through_an_earlier_value_is_an_error() -> None:
    with pytest.raises(ConfigError, match="conflicts with an earlier --param of 'reward'"):
        parse_assignments(["reward=1", "reward.w_cost=2"], "--param")


def test_an_exponent_override_reaches_the_scenario_as_a_float() -> None:
    overrides = parse_assignments(["reward.w_cost=2e-1"], "--override")
    assert load_scenario("smoke-video", overrides).reward.w_cost == 0.2
    # The text YAML 1.1 makes of it is what the schema rejects.
    with pytest.raises(ConfigError, match="w_cost"):
        load_scenario("smoke-video", {"reward": {"w_cost": "2e-1"}})
