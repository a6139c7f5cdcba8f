"""Every shipped scenario and pipeline loads, and what they say is consistent."""

from __future__ import annotations

import pytest

from themis_env.config import available, load_pipeline, load_scenario, to_plain


@pytest.mark.parametrize("name", available("scenarios"))
def test_every_shipped_scenario_loads_with_its_pipeline(name):
    scenario = load_scenario(name)
    assert scenario.name == name  # the file name and the name inside agree
    pipeline = load_pipeline(scenario.pipeline)
    assert len(scenario.initial) in (1, pipeline.n_stages)
    assert scenario.description


@pytest.mark.parametrize("name", available("pipelines"))
def test_every_shipped_pipeline_loads(name):
    pipeline = load_pipeline(name)
    assert pipeline.n_stages == len(pipeline.models) >= 1
    assert pipeline.config.preset == name.split("/")[0]


def test_to_plain_round_trips_through_the_loader():
    scenario = load_scenario("smoke-video")
    assert load_scenario("smoke-video", to_plain(scenario)) == scenario
