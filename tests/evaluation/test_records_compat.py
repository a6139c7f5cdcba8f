"""Records written before model variants existed still replay to the same KPIs."""

from __future__ import annotations

from pathlib import Path

from themis_env.evaluation.validation import validate_records

# Written by `themis-env evaluate` at commit 74ed97a (before variants): Themis, HPA and the
# shipped PPO agent on smoke-video and HPA on sentiment-arxiv-fluctuating, 60-s episodes.
RECORDS = Path(__file__).parent / "data" / "records_before_variants.jsonl"


def test_records_from_before_variants_replay_identically_with_the_same_config_hash():
    results = validate_records(RECORDS)
    assert [r.status for r in results] == ["ok"] * 4
    assert all(not r.diffs for r in results)
    assert not any("config hash" in note for r in results for note in r.notes)
