"""Action forms: decoding, encoding, bad actions, masks, and targets the cluster cannot place."""

from __future__ import annotations

import numpy as np
import pytest

from themis_env.envs import InferenceClusterEnv
from themis_env.errors import ConfigError, InvalidActionError, PolicyError

from .conftest import make


def base(**kwargs) -> InferenceClusterEnv:
    env = make(**kwargs).unwrapped
    env.reset(seed=0)
    return env


@pytest.mark.parametrize("action_mode", ["target", "delta", "continuous"])
def test_encode_targets_round_trips_through_step(action_mode):
    env = base(action_mode=action_mode)
    wanted = [(3, 2, 4), (2, 3, 1)]
    for _ in range(4):  # the delta form needs one step per unit of change
        _, _, _, _, info = env.step(env.encode_targets(wanted))
    assert [tuple(d) for d in env.current_targets] == wanted
    assert (info["replicas"], info["cores"], info["batch"]) == ([3, 2], [2, 3], [4, 1])


def test_target_action_entries_are_offsets_from_the_lowest_value():
    env = base()
    env.step(np.array([0, 0, 0, 31, 7, 7]))
    assert [tuple(d) for d in env.current_targets] == [(1, 1, 1), (32, 8, 8)]


def test_delta_steps_past_a_limit_are_held_and_counted():
    env = base(action_mode="delta")
    # Initial video targets: detector (2, 1, 1), classifier (1, 1, 1).
    _, _, _, _, info = env.step(np.array([0, 0, 0, 2, 2, 2]))
    assert [tuple(d) for d in env.current_targets] == [(1, 1, 1), (2, 2, 2)]
    assert info["clamped"] == 2  # detector cores and batch cannot go below 1


def test_continuous_maps_the_box_onto_each_knob_range():
    env = base(action_mode="continuous")
    env.step(np.array([-1, -1, -1, 1, 1, 1], dtype=np.float32))
    assert [tuple(d) for d in env.current_targets] == [(1, 1, 1), (32, 8, 8)]
    env.step(np.zeros(6, dtype=np.float32))  # midpoints: 1 + 15.5 → 16 (round half even)
    assert [tuple(d) for d in env.current_targets] == [(16, 4, 4), (16, 4, 4)]


@pytest.mark.parametrize(
    ("action_mode", "action", "fragments"),
    [
        ("target", [0, 0, 0, 32, 0, 0], ["action[3]", "= 32", "[0, 31]", "'classifier' replicas"]),
        ("target", [0, -1, 0, 0, 0, 0], ["action[1]", "= -1", "[0, 7]", "cores 1..8"]),
        ("target", [0, 1.5, 0, 0, 0, 0], ["action[1]", "1.5", "not a whole number"]),
        ("target", [0, 0, 0], ["shape (3,)", "(6,)"]),
        ("delta", [0, 0, 3, 0, 0, 0], ["action[2]", "= 3", "[0, 2]", "'detector' batch"]),
        ("continuous", [0, 0, 0, 0, 1.5, 0], ["action[4]", "1.5", "outside [-1, 1]"]),
        ("continuous", [0, np.nan, 0, 0, 0, 0], ["action[1]", "nan", "not a finite number"]),
        ("continuous", [np.inf, 0, 0, 0, 0, 0], ["action[0]", "inf", "not a finite number"]),
        ("target", ["a", "b", "c", "d", "e", "f"], ["must hold numbers"]),
    ],
)
def test_out_of_space_action_raises_naming_value_and_bounds(action_mode, action, fragments):
    env = base(action_mode=action_mode)
    before = env.sim.time
    with pytest.raises(InvalidActionError) as err:
        env.step(np.array(action))
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert "ClipAction" in message or "shape" in message or "numbers" in message
    assert env.sim.time == before  # nothing happened


def test_invalid_action_error_is_also_a_value_error():
    env = base()
    with pytest.raises(ValueError):
        env.step([99, 0, 0, 0, 0, 0])


def test_unplaceable_target_is_applied_as_far_as_it_goes_and_reported_pending():
    env = base(cluster={"nodes": 1, "cores_per_node": 4})
    # Detector 2 × 1 core + classifier 1 × 1 core: 1 core free; ask for 6 + 3 replicas.
    obs, _, _, _, info = env.step(env.encode_targets([(6, 1, 1), (3, 1, 1)]))
    assert info["pending_replicas"] == 9 - 4
    assert obs["replicas_pending"].sum() == 5
    assert obs["replicas"].tolist() + obs["free_cores"].tolist() == [3, 1, 0]
    # Still pending next step while the target stands: never silently dropped.
    obs, _, _, _, info = env.step(env.encode_targets([(6, 1, 1), (3, 1, 1)]))
    assert info["pending_replicas"] == 5
    assert env.current_targets[0].replicas == 6


def test_resize_that_does_not_fit_is_reported():
    env = base(cluster={"nodes": 1, "cores_per_node": 4})
    _, _, _, _, info = env.step(env.encode_targets([(2, 2, 1), (1, 4, 1)]))
    assert info["failed_resizes"] >= 1


@pytest.mark.parametrize("action_mode", ["target", "delta"])
def test_action_masks_have_the_multidiscrete_layout_and_allow_the_current_value(action_mode):
    env = base(action_mode=action_mode, cluster={"nodes": 1, "cores_per_node": 8})
    rng = np.random.default_rng(0)
    for _ in range(15):
        masks = env.action_masks()
        assert masks.dtype == bool and masks.shape == (int(env.action_space.nvec.sum()),)
        per_entry = np.split(masks, np.cumsum(env.action_space.nvec)[:-1])
        keep = env.encode_targets([tuple(d) for d in env.current_targets])
        for entry_mask, current in zip(per_entry, keep, strict=True):
            assert entry_mask[current]
        # A masked-valid action always exists and is accepted.
        action = np.array([rng.choice(np.flatnonzero(m)) for m in per_entry])
        env.step(action)


def test_target_masks_forbid_replicas_that_cannot_be_placed():
    env = base(cluster={"nodes": 1, "cores_per_node": 4})
    # 3 cores held by 3 one-core replicas, 1 free: detector may grow to 3 replicas, not 4.
    masks = env.action_masks()
    replicas = masks[:32]
    assert replicas[:3].all() and not replicas[3:].any()
    assert masks[-8:].all()  # every batch size


def test_continuous_mode_has_no_masks():
    with pytest.raises(PolicyError, match="MultiDiscrete"):
        base(action_mode="continuous").action_masks()


def test_unknown_action_and_obs_modes_raise_with_the_allowed_values():
    with pytest.raises(ConfigError, match=r"action_mode = 'targets'.*'target'.*Did you mean"):
        InferenceClusterEnv(action_mode="targets")
    with pytest.raises(ConfigError, match=r"obs_mode = 'box'.*\['dict', 'flat'\]"):
        InferenceClusterEnv(obs_mode="box")
    with pytest.raises(ConfigError, match=r"render_mode = 'human'.*'ansi'"):
        InferenceClusterEnv(render_mode="human")
