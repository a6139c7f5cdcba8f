"""``themis-env scenarios list|show`` (the shipped scenarios as the CLI reports them)."""

from __future__ import annotations

import json

import yaml

from themis_env.cli import main
from themis_env.config import available


def test_list_has_one_row_per_scenario_with_its_env_ids(capsys):
    assert main(["scenarios", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "PIPELINE", "SLO"]
    for name in available("scenarios"):
        assert any(line.startswith(name + " ") for line in lines), name
    bursty = next(line for line in lines if line.startswith("video-arxiv-bursty "))
    assert "InferenceCluster-v1" in bursty and "Video-Bursty-v1" in bursty
    assert f"{len(available('scenarios'))} scenarios" in out


def test_list_json_filtered_by_tag(capsys):
    assert main(["scenarios", "list", "--tag", "paper", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and all("paper" in r["tags"] for r in rows)
    twitter = next(r for r in rows if r["name"] == "video-arxiv-twitter")
    assert twitter["env_ids"] == ["themis_env/Video-Twitter-v1"]
    assert twitter["stages"] == ["detector", "classifier"] and twitter["slo_ms"] == 780.0


def test_show_prints_the_full_scenario_with_defaults(capsys):
    assert main(["scenarios", "show", "smoke-video"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert data["scenario"]["name"] == "smoke-video"
    assert data["scenario"]["cluster"]["core_memory_gb"] == 18.0  # a default filled in
    assert [s["name"] for s in data["pipeline"]["stages"]] == ["detector", "classifier"]
    assert data["file"].endswith("smoke-video.yaml")


def test_show_unknown_name_fails_with_did_you_mean(capsys):
    assert main(["scenarios", "show", "smoke-vidoe"]) == 2
    err = capsys.readouterr().err
    assert "unknown scenario 'smoke-vidoe'" in err and "Did you mean 'smoke-video'" in err
