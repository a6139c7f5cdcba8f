"""Model variants in the config: stages with several models, accuracies and their combination."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from themis_env.config import load_pipeline, load_scenario
from themis_env.errors import ConfigError


def write_model(tmp_path: Path, name: str, **extra) -> str:
    data = {"name": name, "latency": {"kind": "parametric", "alpha": 10.0, "zeta": 1.0}, **extra}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def write_pipeline(tmp_path: Path, stages: list[dict], **extra) -> Path:
    path = tmp_path / "pipe.yaml"
    data = {"name": "p", "slo_ms": 500, "stages": stages, **extra}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def pipeline_error(tmp_path: Path, stages: list[dict], **extra) -> str:
    path = write_pipeline(tmp_path, stages, **extra)
    with pytest.raises(ConfigError) as err:
        load_pipeline(path)
    assert str(path) in str(err.value)
    return str(err.value)


def accurate(tmp_path: Path, name: str, accuracy: float) -> str:
    return write_model(tmp_path, name, accuracy=accuracy, accuracy_metric="top-1")


def test_a_stage_names_exactly_one_of_model_and_variants(tmp_path):
    a = accurate(tmp_path, "a", 0.5)
    both = pipeline_error(tmp_path, [{"name": "s", "model": a, "variants": [a]}])
    assert "exactly one of 'model'" in both
    neither = pipeline_error(tmp_path, [{"name": "s"}])
    assert "exactly one of 'model'" in neither


def test_a_variant_listed_twice_is_rejected(tmp_path):
    a = accurate(tmp_path, "a", 0.5)
    assert "lists a model twice" in pipeline_error(tmp_path, [{"name": "s", "variants": [a, a]}])


def test_variants_need_accuracies_and_every_model_declares_one_or_none(tmp_path):
    plain_a, plain_b = write_model(tmp_path, "pa"), write_model(tmp_path, "pb")
    message = pipeline_error(tmp_path, [{"name": "s", "variants": [plain_a, plain_b]}])
    assert "needs 'accuracy'" in message
    mixed = pipeline_error(
        tmp_path,
        [{"name": "s", "model": plain_a}, {"name": "t", "model": accurate(tmp_path, "b", 0.7)}],
    )
    assert "declare no 'accuracy' while others do" in mixed and "pa.yaml" in mixed


def test_an_accuracy_needs_its_metric_and_a_load_time_must_be_positive(tmp_path):
    path = write_pipeline(
        tmp_path, [{"name": "s", "model": write_model(tmp_path, "m", accuracy=1)}]
    )
    with pytest.raises(ConfigError, match="'accuracy_metric' must name the metric"):
        load_pipeline(path)
    path = write_pipeline(
        tmp_path, [{"name": "s", "model": write_model(tmp_path, "n", load_time_s=0)}]
    )
    with pytest.raises(ConfigError, match="load_time_s' = 0.0 is not allowed; it must be > 0"):
        load_pipeline(path)


def test_unknown_accuracy_rule_lists_the_allowed(tmp_path):
    a = accurate(tmp_path, "a", 0.5)
    message = pipeline_error(tmp_path, [{"name": "s", "model": a}], accuracy={"combine": "product"})
    assert "accuracy.combine' = 'product' is not allowed" in message and "'multiply'" in message


@pytest.mark.parametrize(
    ("normalise", "expected"),
    [
        ("none", [[40.0, 50.0], [0.6, 0.8, 0.7]]),
        ("max", [[0.8, 1.0], [0.75, 1.0, 0.875]]),
        ("range", [[0.0, 1.0], [0.0, 1.0, 0.5]]),
    ],
)
def test_normalisation_by_hand(tmp_path, normalise, expected):
    det = [accurate(tmp_path, "d1", 40.0), accurate(tmp_path, "d2", 50.0)]
    cls = [accurate(tmp_path, f"c{i}", a) for i, a in enumerate((0.6, 0.8, 0.7))]
    path = write_pipeline(
        tmp_path,
        [{"name": "det", "variants": det}, {"name": "cls", "variants": cls}],
        accuracy={"normalise": normalise},
    )
    pipe = load_pipeline(path)
    assert pipe.n_variants == 3 and [len(v) for v in pipe.stage_models] == [2, 3]
    for row, want in zip(pipe.normalised_accuracy(), expected, strict=True):
        assert row == pytest.approx(want)
    assert [m.name for m in pipe.models] == ["d1", "c0"]  # the first variant of each stage


def test_range_normalisation_of_a_single_variant_is_one(tmp_path):
    pipe = load_pipeline(
        write_pipeline(
            tmp_path,
            [{"name": "s", "model": accurate(tmp_path, "a", 0.3)}],
            accuracy={"normalise": "range"},
        )
    )
    assert pipe.normalised_accuracy() == [[1.0]]


@pytest.mark.parametrize(
    ("combine", "expected"), [("sum", 1.5), ("average", 0.75), ("multiply", 0.5)]
)
def test_combination_by_hand(tmp_path, combine, expected):
    a = accurate(tmp_path, "a", 0.5)
    pipe = load_pipeline(
        write_pipeline(
            tmp_path,
            [{"name": "s", "model": a}, {"name": "t", "model": a}],
            accuracy={"combine": combine},
        )
    )
    assert pipe.combine_accuracy([0.5, 1.0]) == pytest.approx(expected)


def test_the_themis_pipelines_declare_no_accuracy():
    # Their KPIs and records stay as they were: no accuracy figures appear for them.
    assert not load_pipeline("themis-arxiv/video").has_accuracy


def test_infadapter_preset_matches_its_sources():
    scenario = load_scenario("infadapter-resnet")
    pipe = load_pipeline(scenario.pipeline)
    (stage,) = pipe.stage_models
    assert [m.name for m in stage] == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert [m.accuracy for m in stage] == [0.69758, 0.73314, 0.7613, 0.77374, 0.78312]
    assert [m.load_time_s for m in stage] == [6.44, 6.79, 6.82, 7.77, 8.52]
    assert pipe.config.slo_ms == 750 and scenario.decision_interval_s == 30
    assert scenario.cluster.nodes * scenario.cluster.cores_per_node == 20
    assert (scenario.trace.start_s, scenario.trace.duration_s) == (1_296_000 + 82 * 60, 21 * 60)


def test_negative_accuracies_need_range_normalisation(tmp_path):
    wer = [
        write_model(tmp_path, f"s{i}", accuracy=a, accuracy_metric="-WER")
        for i, a in enumerate((-41.28, -33.26))
    ]
    message = pipeline_error(tmp_path, [{"name": "s", "variants": wer}])
    assert "negative accuracies" in message and "use 'range'" in message
    pipe = load_pipeline(
        write_pipeline(tmp_path, [{"name": "s", "variants": wer}], accuracy={"normalise": "range"})
    )
    assert pipe.normalised_accuracy() == [[0.0, 1.0]]


IPA_WINDOWS = ("bursty", "steady-low", "steady-high", "fluctuating")


@pytest.mark.parametrize("window", IPA_WINDOWS)
def test_ipa_video_scenarios_are_ipas_setting(window):
    scenario = load_scenario(f"ipa-video-{window}")
    assert scenario.pipeline == "ipa-video/video" and scenario.decision_interval_s == 10
    assert scenario.trace.uri == f"twitter-2021-08#ipa-{window}?damping=8"
    (init,) = scenario.initial
    assert (init.replicas, init.cores, init.batch, init.variant) == (1, 1, 1, 0)


def test_ipa_video_models_carry_ipas_accuracies_and_a_source():
    pipe = load_pipeline("ipa-video/video")
    detector, classifier = pipe.stage_models
    assert [m.name for m in detector] == [f"yolov5{s}" for s in "nsmlx"]
    assert [m.accuracy for m in detector] == [45.7, 56.8, 64.1, 67.3, 68.9]
    assert [m.name for m in classifier] == [f"resnet{d}" for d in (18, 34, 50, 101, 152)]
    assert [m.accuracy for m in classifier] == [69.75, 73.31, 76.13, 77.37, 78.31]
    assert [m.load_time_s for m in classifier] == [6.44, 6.79, 6.82, 7.77, 8.52]
    assert all(m.load_time_s is None for m in detector)  # none published: the cold start
    for m in (*detector, *classifier):
        assert "ipa@e1f08dd" in m.source and "mehransi/Themis b01017f" in m.source


def test_ipa_video_profiles_follow_from_the_shipped_measurements():
    # Each profile = the Themis profile of the stage's smallest variant with its per-core terms
    # (alpha, gamma) times r, the mean over batches of the measured 1-core latency ratio.
    import csv

    import numpy as np

    from themis_env.config import load_model
    from themis_env.resources import configs_dir

    path = configs_dir() / "models" / "ipa-video" / "measurements.csv"
    runs: dict[tuple[str, int], list[float]] = {}
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            if int(row["repeat"]) >= 0:
                runs.setdefault((row["model"], int(row["batch"])), []).append(
                    float(row["latency_ms"])
                )
    for stage in load_pipeline("ipa-video/video").stage_models:
        ref = stage[0].name
        themis = load_model(f"themis-arxiv/{ref}").latency
        for m in stage:
            ratios = [np.median(runs[m.name, b]) / np.median(runs[ref, b]) for b in (1, 2, 4, 8)]
            r = np.mean(ratios)
            assert m.latency.alpha == pytest.approx(themis.alpha * r, abs=2e-3)
            assert m.latency.gamma == pytest.approx(themis.gamma * r, abs=2e-3)
            assert (m.latency.beta, m.latency.zeta) == (themis.beta, themis.zeta)


def test_ipa_video_slo_is_ipas_rule_on_its_profiles():
    from themis_env.baselines.ipa.problem import stage_sla_ms

    pipe = load_pipeline("ipa-video/video")
    rule = sum(
        stage_sla_ms([m.latency for m in models], stage.max_cores)
        for stage, models in zip(pipe.config.stages, pipe.stage_models, strict=True)
    )
    assert pipe.config.slo_ms == pytest.approx(rule, abs=0.5)
