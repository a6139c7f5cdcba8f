"""Evaluation harness: run policies on scenario suites, keep checkable records, rank them.

* :mod:`~themis_env.evaluation.rollout`: the one episode loop (runner, replay, agent tools).
* :mod:`~themis_env.evaluation.runner`: one policy × scenario × seed episode → a record.
* :mod:`~themis_env.evaluation.run_record`: the record type, versioned, checked on load.
* :mod:`~themis_env.evaluation.records`: JSON-lines records, hashes, run keys, durable appends.
* :mod:`~themis_env.evaluation.validation`: replay records and report KPIs that differ.
* :mod:`~themis_env.evaluation.suites`: strict loading of ``configs/suites/*.yaml``.
* :mod:`~themis_env.evaluation.leaderboard`: ranked tables (SLO target, then cost) with CIs.
* :mod:`~themis_env.evaluation.plots`: timelines and cost-vs-attainment frontier plots.
* :mod:`~themis_env.evaluation.report`: ``leaderboard.html``, one self-contained page.
* :mod:`~themis_env.evaluation.parallel`: serial, process-pool and Ray execution.
* :mod:`~themis_env.evaluation.harness`: the leaderboard and evaluate workflows.
"""

from themis_env.evaluation.harness import LeaderboardResult, evaluate_policy, run_leaderboard
from themis_env.evaluation.leaderboard import Leaderboard, build_leaderboard
from themis_env.evaluation.records import RecordWriter, read_records
from themis_env.evaluation.rollout import Episode, rollout
from themis_env.evaluation.run_record import RunRecord
from themis_env.evaluation.runner import RunSpec, run_episode
from themis_env.evaluation.suites import SuiteConfig, load_suite
from themis_env.evaluation.validation import validate_records

__all__ = [
    "Episode",
    "Leaderboard",
    "LeaderboardResult",
    "RecordWriter",
    "RunRecord",
    "RunSpec",
    "SuiteConfig",
    "build_leaderboard",
    "evaluate_policy",
    "load_suite",
    "read_records",
    "rollout",
    "run_episode",
    "run_leaderboard",
    "validate_records",
]
