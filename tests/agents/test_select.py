"""Checkpoint selection: checkpoints land on evaluations, validation reproduces the training's
evaluation, the rule picks what it says, the log resumes, the export records the rule."""

import json

import pytest

pytest.importorskip("stable_baselines3")

from themis_env.agents import select as selection  # noqa: E402
from themis_env.agents.artifacts import read_manifest  # noqa: E402
from themis_env.agents.select import (  # noqa: E402
    SelectionRule,
    candidates,
    choose,
    count_targets,
    main,
    select,
)
from themis_env.agents.train import train  # noqa: E402

from tests.agents.helpers import tiny_args  # noqa: E402
from themis_env.errors import ConfigError  # noqa: E402
from themis_env.evaluation.targets import TARGET_BASELINES, Outcome  # noqa: E402

pytestmark = pytest.mark.sb3


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny PPO run on 3 envs, evaluated and checkpointed "every 100 steps" (384 steps)."""
    tmp = tmp_path_factory.mktemp("select")
    args = tiny_args(
        tmp,
        "ppo",
        ["n_steps=64", "batch_size=64", "n_epochs=1"],
        n_envs=3,
        timesteps=300,
        eval_scenario=["smoke-video", "smoke-video"],
        eval_freq=100,
        checkpoint_freq=100,
    )
    return train(args, argv=[]).run_dir


def _logged_evaluations(run_dir):
    lines = (run_dir / "eval" / "kpis.jsonl").read_text().splitlines()
    return {r["timesteps"]: r for r in map(json.loads, lines)}


def test_checkpoints_land_on_the_evaluated_steps(run_dir):
    # Every 100 steps on 3 envs: the evaluations come every 33 vector steps (99 env steps); a
    # schedule in env steps would put the checkpoints at 102, 201, 300, off the evaluations.
    steps = [c.timesteps for c in candidates(run_dir)[:-1]]
    assert steps == sorted(_logged_evaluations(run_dir)) == [99, 198, 297]


def test_validation_reproduces_the_training_evaluation(run_dir):
    record = select(run_dir, SelectionRule())
    rows = {
        json.loads(line)["timesteps"]: json.loads(line)
        for line in (run_dir / "selection" / "validation.jsonl").read_text().splitlines()
    }
    logged = _logged_evaluations(run_dir)
    for steps, kpis in logged.items():
        assert rows[steps]["slo_violation_rate"] == pytest.approx(kpis["slo_violation_rate"])
        assert rows[steps]["mean_cores"] == pytest.approx(kpis["mean_cores"])
        assert rows[steps]["return"] == pytest.approx(kpis["mean_reward"], rel=1e-5)
        # Scenario i gets seed + i, as the vector of evaluation envs does.
        assert [e["seed"] for e in rows[steps]["episodes"]] == [10000, 10001]
    assert record["chosen"]["agent"] in {r["agent"] for r in rows.values()}
    assert len(record["candidates"]) == 4  # three checkpoints and the final model


def test_a_later_rule_reuses_the_log_and_a_cut_line_is_validated_again(run_dir, monkeypatch):
    select(run_dir, SelectionRule())
    log = run_dir / "selection" / "validation.jsonl"
    lines = log.read_text().splitlines()
    calls = []
    real = selection.validate
    monkeypatch.setattr(
        selection, "validate", lambda path, *a, **k: calls.append(path) or real(path, *a, **k)
    )
    select(run_dir, SelectionRule(minimise="cores"))
    assert calls == []
    cut = json.loads(lines[-1])["agent"]
    log.write_text("\n".join(lines[:-1] + [lines[-1][:40]]))  # as an interrupted write leaves it
    with pytest.warns(UserWarning, match="partial last record"):
        select(run_dir, SelectionRule())
    assert [p.name for p in calls] == [cut.rsplit("/", 1)[-1]]
    again = [json.loads(line) for line in log.read_text().splitlines()]
    before = [json.loads(line) for line in lines]
    keys = ("agent", "slo_violation_rate", "mean_cores", "return")
    assert [[r[k] for k in keys] for r in again] == [[r[k] for k in keys] for r in before]


def test_export_records_the_rule_and_the_checkpoint_time(run_dir, tmp_path):
    out = tmp_path / "chosen"
    record = select(run_dir, SelectionRule(max_cores=1e6), export=out)
    manifest = read_manifest(out / "ppo.zip")  # a checkpoint ships under the algorithm's name
    assert manifest["vecnormalize"] == "ppo.vecnormalize.pkl"
    assert (out / "ppo.vecnormalize.pkl").is_file()
    assert manifest["selected_by"]["rule"] == {
        "max_cores": 1e6,
        "max_violations": None,
        "minimise": "violations",
        "targets": False,
    }
    assert manifest["selected_by"]["timesteps"] == record["chosen"]["timesteps"]
    assert manifest["run_timesteps"] >= 300
    source = read_manifest(run_dir / record["chosen"]["agent"])
    assert manifest["wall_time_s"] == source["wall_time_s"]  # the checkpoint's own time
    assert (out / "kpis.jsonl").is_file() and (out / "run.json").is_file()


ROWS = [
    {"agent": "a", "timesteps": 1, "slo_violation_rate": 0.30, "mean_cores": 9.0},
    {"agent": "b", "timesteps": 2, "slo_violation_rate": 0.40, "mean_cores": 5.0},
    {"agent": "c", "timesteps": 3, "slo_violation_rate": 0.40, "mean_cores": 4.0},
    {"agent": "d", "timesteps": 4, "slo_violation_rate": 0.60, "mean_cores": 3.0},
    {"agent": "e", "timesteps": 5, "slo_violation_rate": 0.40, "mean_cores": 4.0},
]


@pytest.mark.parametrize(
    ("rule", "agent"),
    [
        (SelectionRule(), "a"),
        (SelectionRule(max_cores=6.0), "c"),  # tie on violations: fewer cores, then earlier
        (SelectionRule(max_cores=3.5), "d"),
        (SelectionRule(minimise="cores"), "d"),
        (SelectionRule(max_violations=0.45, minimise="cores"), "c"),
    ],
)
def test_the_rule_picks_what_it_states(rule, agent):
    assert choose(ROWS, rule)["agent"] == agent


TARGET_ROWS = [
    {**ROWS[0], "targets_met": 1},
    {**ROWS[1], "targets_met": 2},
    {**ROWS[2], "targets_met": 2},
    {**ROWS[3], "targets_met": 3},
]


@pytest.mark.parametrize(
    ("rule", "agent"),
    [
        (SelectionRule(targets=True), "d"),  # the most scenarios met beats fewer violations
        (SelectionRule(max_cores=6.0, targets=True), "d"),
        (SelectionRule(max_cores=4.5, max_violations=0.5, targets=True), "c"),
        (SelectionRule(max_cores=9.0, max_violations=0.35, targets=True), "a"),
    ],
)
def test_a_targets_rule_first_keeps_the_models_meeting_most(rule, agent):
    assert choose(TARGET_ROWS, rule)["agent"] == agent


def test_a_targets_rule_needs_the_counts():
    with pytest.raises(ConfigError, match="targets_met"):
        choose(ROWS, SelectionRule(targets=True))


def test_targets_are_counted_per_validation_episode():
    baselines = {
        "calm": {"themis": Outcome(0.01, 10.0), "hpa": Outcome(0.3, 5.0)},
        "busy": {"horizontal": Outcome(0.05, 8.0), "vpa": Outcome(0.5, 4.0)},
    }
    episodes = [
        {"scenario": "calm", "slo_violation_rate": 0.02, "mean_cores": 12.0},  # Themis dominates
        {"scenario": "busy", "slo_violation_rate": 0.04, "mean_cores": 9.0},
    ]
    assert count_targets(episodes, baselines) == (1, ["calm"])
    with pytest.raises(ConfigError, match="'other'"):
        count_targets([{**episodes[0], "scenario": "other"}], baselines)


def test_a_targets_selection_runs_the_baselines_once_and_records_the_counts(run_dir, monkeypatch):
    record = select(run_dir, SelectionRule(targets=True))
    log = run_dir / "selection" / "baselines.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    # Each baseline once per validation scenario, on the seeds the agent's episodes had.
    assert sorted((r["policy"], r["seed"]) for r in rows) == sorted(
        (name, seed) for name in TARGET_BASELINES for seed in (10000, 10001)
    )
    assert all("slo_violation_rate" in r or "unavailable" in r for r in rows)
    for candidate in record["candidates"]:
        assert 0 <= candidate["targets_met"] <= 2
        assert len(candidate["targets_missed"]) == 2 - candidate["targets_met"]
    most = max(c["targets_met"] for c in record["candidates"])
    assert record["chosen"]["targets_met"] == most
    calls = []
    monkeypatch.setattr(selection, "rollout", lambda *a, **k: calls.append(a))
    assert select(run_dir, SelectionRule(targets=True))["chosen"] == record["chosen"]
    assert calls == []  # the logged baseline episodes are reused


def test_no_eligible_model_and_bad_rules_are_explained():
    with pytest.raises(ConfigError, match=r"fewest cores was 3.00 \(at 4 steps\)"):
        choose(ROWS, SelectionRule(max_cores=2.0))
    with pytest.raises(ConfigError, match="minimise='latency'"):
        SelectionRule(minimise="latency")
    with pytest.raises(ConfigError, match="max_cores=nan"):
        SelectionRule(max_cores=float("nan"))


def test_command_line_errors_name_the_folder(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "has no run.json" in capsys.readouterr().err
