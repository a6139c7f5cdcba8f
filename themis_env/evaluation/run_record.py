"""The run record: one policy × scenario × seed episode, as a typed, versioned value.

A :class:`RunRecord` is what :func:`~themis_env.evaluation.runner.run_episode` returns, what
``records.jsonl`` holds one of per line, and what validation, the leaderboard, the plots and
the command line read. :meth:`RunRecord.from_json` checks each field's type and names the
field and value it rejects, and builds nothing but plain data (no import, no unpickling), so
reading a record never runs code.

Since schema 2 a record carries a :attr:`~RunRecord.digest`: the SHA-256 of its own canonical
JSON without the digest, set when the run finishes. A record edited by hand (a halved KPI) no
longer matches it, and the leaderboard refuses it; a digest is a check against edits and
damage, not a signature, and ``themis-env validate`` still replays every record. Schema-1
records (no digest) stay readable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from themis_env.errors import RecordError

__all__ = [
    "READABLE_SCHEMAS",
    "SCHEMA_VERSION",
    "ErrorInfo",
    "PolicyInfo",
    "RunRecord",
    "TraceInfo",
]

SCHEMA_VERSION = 2
"""Version of the JSON layout new records are written in (the ``schema`` field)."""

READABLE_SCHEMAS = (1, 2)
"""Versions this release reads: 2 is 1 plus ``digest``; readers refuse other versions."""

STATUSES = ("ok", "failed")


def _fail(where: str, value: Any, expected: str) -> RecordError:
    return RecordError(f"record field {where!r} = {value!r}: expected {expected}")


def _check(where: str, value: Any, kinds: tuple[type, ...], expected: str) -> Any:
    # bool is an int subclass: a flag given where a number is due is an error, and vice versa.
    if isinstance(value, bool) and bool not in kinds:
        raise _fail(where, value, expected)
    if not isinstance(value, kinds):
        raise _fail(where, value, expected)
    return value


def _optional(where: str, value: Any, kinds: tuple[type, ...], expected: str) -> Any:
    return None if value is None else _check(where, value, kinds, f"{expected} or null")


def _plain_mapping(where: str, value: Any) -> dict[str, Any]:
    return dict(_check(where, value, (dict,), "a JSON object"))


def _numbers(where: str, value: Any) -> dict[str, float | int | bool | None]:
    """A mapping of name → number (or null, for a figure that had no value)."""
    data = _plain_mapping(where, value)
    for name, number in data.items():
        _optional(f"{where}.{name}", number, (int, float, bool), "a number")
    return data


def _take(data: Mapping[str, Any], where: str, known: tuple[str, ...]) -> dict[str, Any]:
    """``data`` as a dict after checking that it is an object with only ``known`` keys."""
    if not where and not isinstance(data, dict):
        raise RecordError(f"a record is a JSON object, not {type(data).__name__} {data!r:.80}")
    data = _plain_mapping(where, data)
    unknown = sorted(set(data) - set(known))
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise RecordError(
            f"record field {name!r} is not part of the record layout "
            f"(known fields: {', '.join(known)})"
        )
    return data


def _require(data: Mapping[str, Any], where: str, names: tuple[str, ...]) -> None:
    for name in names:
        if name not in data:
            raise RecordError(f"record field {f'{where}.{name}' if where else name!r} is missing")


def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class PolicyInfo:
    """Which policy ran.

    Attributes:
        label: Name shown in tables.
        ref: ``NAME``, ``module:Class`` or ``agent:PATH.zip``.
        params: Keyword parameters of the policy.
        describe: What the policy said of itself (``policy.describe()``); None before it was
            built (a failed run).
        privileged: Whether it sees the future trace; None before it was built.
    """

    label: str
    ref: str
    params: dict[str, Any] = field(default_factory=dict)
    describe: dict[str, Any] | None = None
    privileged: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON data (``describe`` and ``privileged`` only once known, as always written)."""
        data: dict[str, Any] = {"label": self.label, "ref": self.ref, "params": self.params}
        if self.describe is not None:
            data["describe"] = self.describe
        if self.privileged is not None:
            data["privileged"] = self.privileged
        return data

    @classmethod
    def from_dict(cls, data: Any) -> PolicyInfo:
        """Checked inverse of :meth:`to_dict`."""
        data = _take(data, "policy", _names(cls))
        _require(data, "policy", ("label", "ref"))
        return cls(
            label=_check("policy.label", data["label"], (str,), "a string"),
            ref=_check("policy.ref", data["ref"], (str,), "a string"),
            params=_plain_mapping("policy.params", data.get("params", {})),
            describe=None
            if data.get("describe") is None
            else _plain_mapping("policy.describe", data["describe"]),
            privileged=_optional("policy.privileged", data.get("privileged"), (bool,), "a bool"),
        )


@dataclass(frozen=True)
class TraceInfo:
    """The workload trace a run replayed.

    Attributes:
        uri: Where the trace came from (None when the env did not say).
        fallback: True when the real file was absent and the calibrated synthetic trace ran.
    """

    uri: str | None
    fallback: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON data."""
        return {"uri": self.uri, "fallback": self.fallback}

    @classmethod
    def from_dict(cls, data: Any) -> TraceInfo:
        """Checked inverse of :meth:`to_dict`."""
        data = _take(data, "trace", _names(cls))
        return cls(
            uri=_optional("trace.uri", data.get("uri"), (str,), "a string"),
            fallback=_check("trace.fallback", data.get("fallback", False), (bool,), "a bool"),
        )


@dataclass(frozen=True)
class ErrorInfo:
    """Why a run failed.

    Attributes:
        type: The exception's class name.
        message: Its message.
        traceback: The end of its formatted traceback.
    """

    type: str
    message: str
    traceback: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON data."""
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    @classmethod
    def from_dict(cls, data: Any) -> ErrorInfo:
        """Checked inverse of :meth:`to_dict`."""
        data = _take(data, "error", _names(cls))
        _require(data, "error", ("type", "message"))
        return cls(
            type=_check("error.type", data["type"], (str,), "a string"),
            message=_check("error.message", data["message"], (str,), "a string"),
            traceback=_check("error.traceback", data.get("traceback", ""), (str,), "a string"),
        )

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


# Fields written only when known (a run that failed before its env existed has none of them).
_WRITTEN_WHEN_SET = ("scenario_config", "pipeline_config", "config_hash", "steps_done", "digest")


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One run: what ran (config, seed, policy), what it did (actions) and what it scored.

    The KPIs are ``info["episode_kpis"]`` of the last step (without the trace flag, which is
    :attr:`trace`), plus ``mean_reward``, ``return`` and ``steps``. Validation replays
    :attr:`actions` in an env rebuilt from :attr:`scenario_config` with :attr:`seed`.

    Fields are in the order the JSON line has always had them.

    Attributes:
        schema: Version of the JSON layout (:data:`SCHEMA_VERSION`).
        key: Resume key (suite, scenario, policy and params, seed, config hash, modes).
        status: ``ok`` or ``failed``.
        error: Why the run failed (None when it did not).
        suite: Suite the run belongs to, or None.
        scenario: Scenario label shown in tables.
        scenario_ref: Scenario name or YAML path the run was built from.
        overrides: Scenario overrides of the run.
        seed: Seed of ``env.reset`` and of the policy.
        policy: Which policy ran.
        env_id: Gymnasium id of the env.
        env_version: Version of that id (None when the env was not built).
        env_spec: ``env.spec.to_json()``.
        action_mode: The env's action mode.
        obs_mode: The env's observation mode.
        package_version: Installed themis-env version.
        created: UTC time the run started (ISO 8601).
        host: Python version and platform.
        spec: The :class:`~themis_env.evaluation.runner.RunSpec` as plain data (for re-runs).
        trace: The trace the run replayed (None when the env was not reset).
        kpis: Episode KPIs (None for a failed run).
        actions: One action (a list) per step (None for a failed run).
        timeline: Per-step figures for the timeline plot, or None.
        scenario_config: The resolved scenario config (``env.unwrapped.describe()``).
        pipeline_config: The pipeline (with its models) the scenario runs.
        config_hash: SHA-256 of the two configs.
        steps_done: Steps taken before a failed run raised.
        timing: Decision times [ms] and the run's wall time [s].
        warnings: Distinct warning messages raised during the run.
        digest: SHA-256 of the record's canonical JSON without this field (see
            :meth:`compute_digest`); None in schema-1 records.
    """

    schema: int = SCHEMA_VERSION
    key: str
    status: str
    error: ErrorInfo | None = None
    suite: str | None = None
    scenario: str
    scenario_ref: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    seed: int
    policy: PolicyInfo
    env_id: str = ""
    env_version: int | None = None
    env_spec: str | None = None
    action_mode: str = "target"
    obs_mode: str = "dict"
    package_version: str = "unknown"
    created: str = ""
    host: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] | None = None
    trace: TraceInfo | None = None
    kpis: dict[str, Any] | None = None
    actions: list[Any] | None = None
    timeline: dict[str, Any] | None = None
    scenario_config: dict[str, Any] | None = None
    pipeline_config: dict[str, Any] | None = None
    config_hash: str | None = None
    steps_done: int | None = None
    timing: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    digest: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the run finished."""
        return self.status == "ok"

    @property
    def privileged(self) -> bool:
        """Whether the policy sees the future trace."""
        return bool(self.policy.privileged)

    @property
    def trace_fallback(self) -> bool:
        """Whether the run used the synthetic fallback trace."""
        return self.trace is not None and self.trace.fallback

    @property
    def label(self) -> str:
        """``scenario / policy / seed N`` for messages."""
        return f"{self.scenario} / {self.policy.label} / seed {self.seed}"

    def kpi(self, name: str) -> float | None:
        """A KPI as a float (None when the run has no such KPI or it had no value)."""
        value = (self.kpis or {}).get(name)
        return None if value is None else float(value)

    def compute_digest(self) -> str:
        """SHA-256 of the record's canonical JSON (sorted keys, compact) without ``digest``."""
        from themis_env.evaluation.records import canonical_json

        data = self.to_dict()
        data.pop("digest", None)
        return hashlib.sha256(canonical_json(data).encode()).hexdigest()

    def sealed(self) -> RunRecord:
        """This record in the current schema with its digest set (what a finished run writes)."""
        unsealed = replace(self, schema=SCHEMA_VERSION, digest=None)
        return replace(unsealed, digest=unsealed.compute_digest())

    @property
    def digest_status(self) -> str:
        """``ok`` (the digest matches), ``none`` (a record without one) or ``mismatch``."""
        if self.digest is None:
            return "none"
        return "ok" if self.digest == self.compute_digest() else "mismatch"

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON data, in the layout of its :attr:`schema`."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in _WRITTEN_WHEN_SET:
                continue
            if isinstance(value, (PolicyInfo, TraceInfo, ErrorInfo)):
                value = value.to_dict()
            data[f.name] = value
        return data

    def to_json(self) -> str:
        """One line of compact JSON (NaN and ±inf become null, as JSON has neither)."""
        from themis_env.evaluation.records import json_safe

        return json.dumps(json_safe(self.to_dict()), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        """Parse one line written by :meth:`to_json`.

        Raises:
            RecordError: for text that is not a JSON object, or a malformed record.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(f"a record is one JSON object; this text is not JSON: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> RunRecord:
        """A record from JSON data, checking every field.

        Raises:
            RecordError: for another schema version, a missing or unknown field, or a value of
                the wrong type; the message names the field and the value.
        """
        schema = data.get("schema", 1) if isinstance(data, dict) else 1
        if schema not in READABLE_SCHEMAS or isinstance(schema, bool):
            raise RecordError(
                f"record field 'schema' = {schema!r}: this version of themis-env reads schema "
                f"{' and '.join(map(str, READABLE_SCHEMAS))} records only"
            )
        names = _names(cls) if schema >= 2 else tuple(n for n in _names(cls) if n != "digest")
        data = _take(data, "", names)
        _require(data, "", ("key", "status", "scenario", "seed", "policy"))
        status = data["status"]
        if status not in STATUSES:
            raise _fail("status", status, f"one of {', '.join(STATUSES)}")
        if status == "ok":
            for name in ("kpis", "actions"):
                if data.get(name) is None:
                    raise RecordError(f"record field {name!r} is missing: an ok run has it")
        text, obj = (str,), "a JSON object"
        return cls(
            schema=schema,
            key=_check("key", data["key"], text, "a string"),
            status=status,
            scenario=_check("scenario", data["scenario"], text, "a string"),
            seed=_check("seed", data["seed"], (int,), "an integer"),
            policy=PolicyInfo.from_dict(data["policy"]),
            error=None if data.get("error") is None else ErrorInfo.from_dict(data["error"]),
            suite=_optional("suite", data.get("suite"), text, "a string"),
            scenario_ref=_check("scenario_ref", data.get("scenario_ref", ""), text, "a string"),
            overrides=_plain_mapping("overrides", data.get("overrides", {})),
            env_id=_check("env_id", data.get("env_id", ""), text, "a string"),
            env_version=_optional("env_version", data.get("env_version"), (int,), "an integer"),
            env_spec=_optional("env_spec", data.get("env_spec"), text, "a string"),
            action_mode=_check("action_mode", data.get("action_mode", "target"), text, "a string"),
            obs_mode=_check("obs_mode", data.get("obs_mode", "dict"), text, "a string"),
            package_version=_check(
                "package_version", data.get("package_version", "unknown"), text, "a string"
            ),
            created=_check("created", data.get("created", ""), text, "a string"),
            host=_plain_mapping("host", data.get("host", {})),
            spec=_optional("spec", data.get("spec"), (dict,), obj),
            trace=None if data.get("trace") is None else TraceInfo.from_dict(data["trace"]),
            kpis=None if data.get("kpis") is None else _numbers("kpis", data["kpis"]),
            actions=_optional("actions", data.get("actions"), (list,), "a list (one per step)"),
            timeline=_optional("timeline", data.get("timeline"), (dict,), obj),
            timing=_numbers("timing", data.get("timing", {})),
            warnings=_strings("warnings", data.get("warnings", [])),
            scenario_config=_optional("scenario_config", data.get("scenario_config"), (dict,), obj),
            pipeline_config=_optional("pipeline_config", data.get("pipeline_config"), (dict,), obj),
            config_hash=_optional("config_hash", data.get("config_hash"), text, "a string"),
            steps_done=_optional("steps_done", data.get("steps_done"), (int,), "an integer"),
            digest=_optional("digest", data.get("digest"), text, "a string"),
        )


def _strings(where: str, value: Any) -> list[str]:
    items = list(_check(where, value, (list,), "a list of strings"))
    for i, item in enumerate(items):
        _check(f"{where}[{i}]", item, (str,), "a string")
    return items
