"""Latency models against tables of the authors' fits (mehransi/Themis experiment_parameters)."""

from __future__ import annotations

import numpy as np
import pytest

from themis_env.config import load_pipeline
from themis_env.sim.latency import LatencyModel

# Tables of the arXiv fits, int(l), rows b = 1, 2, 4, 8, columns c = 1, 2, 4, 8.
ARXIV = {
    "yolov5n": [176, 99, 60, 41, 362, 211, 135, 97, 735, 434, 284, 209, 1480, 882, 583, 433],
    "resnet18": [70, 43, 29, 23, 107, 62, 40, 29, 180, 101, 62, 42, 327, 179, 104, 67],
    "s2t-small": [320, 211, 156, 128, 418, 278, 209, 174, 612, 414, 315, 265, 1002, 685, 527, 447],
    "distilbert-sentiment": [70, 39, 24, 16, 128, 71, 43, 29, 244, 135, 81, 53, 476, 263, 156, 103],
    "xlmr-langid": [104, 66, 48, 38, 127, 79, 55, 42, 173, 103, 68, 51, 264, 152, 96, 68],
    "elanmt-ja-en": [
        376,
        231,
        158,
        122,
        755,
        457,
        308,
        234,
        1512,
        910,
        609,
        458,
        3027,
        1815,
        1210,
        907,
    ],
    "billsum-summarizer": [
        370,
        238,
        172,
        140,
        717,
        454,
        322,
        256,
        1412,
        885,
        621,
        489,
        2803,
        1747,
        1220,
        956,
    ],
}
# 2025 tables with the safety margin, rows b = 1, 2, 4, columns c = 1..4.
HEAD = {
    "yolov10n": [56, 35, 28, 25, 104, 63, 49, 42, 199, 118, 91, 78],
    "resnet18": [43, 26, 20, 17, 74, 42, 32, 26, 135, 76, 56, 46],
    "s2t-small": [166, 115, 98, 90, 253, 166, 136, 122, 429, 267, 213, 186],
    "distilbert-sentiment": [25, 16, 14, 12, 45, 28, 22, 20, 86, 52, 40, 34],
    "xlmr-langid": [34, 22, 18, 16, 44, 27, 21, 19, 64, 37, 28, 23],
    "elanmt-ja-en": [182, 117, 96, 85, 351, 217, 173, 151, 687, 418, 328, 283],
    "distilbert-sentiment-nlp": [19, 13, 11, 10, 36, 22, 18, 16, 68, 41, 32, 27],
}


def _models(preset: str) -> dict:
    out = {}
    for pipe in ("video", "sentiment", "nlp"):
        p = load_pipeline(f"{preset}/{pipe}")
        out.update({m.name: m for m in p.models})
    return out


@pytest.mark.parametrize("name", sorted(ARXIV))
def test_arxiv_profile_matches_reference_table(name):
    model = _models("themis-arxiv")[name].latency
    got = [model.profile_ms(b, c) for b in (1, 2, 4, 8) for c in (1, 2, 4, 8)]
    assert got == ARXIV[name]


@pytest.mark.parametrize("name", sorted(HEAD))
def test_2025_profile_with_margin_matches_reference_table(name):
    model = _models("themis-2025")[name].latency
    got = [model.profile_ms(b, c) for b in (1, 2, 4) for c in (1, 2, 3, 4)]
    assert got == HEAD[name]


def test_amdahl_shape_diminishing_returns():
    model = _models("themis-arxiv")["yolov5n"].latency
    # Each added core speeds a batch up, by less than the core before it did.
    speedups = [model.service_ms(1, 1) / model.service_ms(1, c) for c in range(1, 9)]
    gains = np.diff(speedups)
    assert np.all(gains > 0) and np.all(np.diff(gains) < 0)


def test_grid_model_interpolates_an_amdahl_model_exactly():
    truth = LatencyModel(alpha=100.0, beta=10.0, gamma=20.0, zeta=5.0)
    cores, batches = (1, 2, 4, 8), (1, 2, 4, 8)
    grid = LatencyModel(
        kind="grid",
        cores=cores,
        batches=batches,
        table_ms=tuple(tuple(truth.service_ms(b, c) for c in cores) for b in batches),
    )
    for b in (1, 3, 5, 8):
        for c in (1, 3, 6, 8):
            assert grid.service_ms(b, c) == pytest.approx(truth.service_ms(b, c))


def test_grid_model_rejects_a_ragged_table():
    with pytest.raises(ValueError, match="rows"):
        LatencyModel(kind="grid", cores=(1, 2), batches=(1, 2), table_ms=((1.0, 2.0),))
