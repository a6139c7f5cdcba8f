"""Read trace files into :class:`Trace` objects, with strict checks.

Formats (``format=`` overrides the detection):

``rate-csv``
    CSV with a header holding an ``rps`` column (req/s, one row per second). An optional
    time column ``t`` (or ``t_s``, ``second``, ``second_of_day``) must count up by exactly 1.
``minute-csv`` / ``hour-csv``
    CSV ``t_min,count_per_minute`` (or ``t_hour,count_per_hour``): request counts per bucket,
    expanded to per-second rates by the ``resample`` rule (see :mod:`themis_env.traces.resample`).
    ``period,count`` with a timestamp per minute (the WorldCup98 original) is read as well.
``counts``
    Whitespace-separated non-negative numbers, one per second, in a ``.txt`` file, in a
    ``.gz``/``.bz2`` file, or as the only member of a ``.tbz2``/``.tar.bz2``/``.tar.gz`` archive
    (the Twitter and NASA ``workload.tbz2`` format).
``requests``
    A per-request log: CSV with a header and one request per row; the time column
    (``timestamp``, ``time``, ``ts``, ``arrival_time`` or ``datetime``; or ``time_column=``)
    holds epoch seconds or ISO 8601 times and must not decrease. Requests are counted into
    whole seconds from the second of the first request.

Every value is checked: an empty file, a non-numeric, negative, NaN or infinite value, a time
column that goes backwards or skips, raise :class:`~themis_env.errors.TraceError` naming the
file, the line and the value. Nothing is dropped or clipped; the only change made to a file
is ignoring trailing blank lines at its end.
"""

from __future__ import annotations

import bz2
import gzip
import io
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from themis_env.errors import TraceError, TraceNotFound
from themis_env.traces.resample import RESAMPLE_RULES, expand_counts
from themis_env.traces.trace import Trace

__all__ = ["FORMATS", "read_trace_file", "detect_format"]

FORMATS = ("rate-csv", "minute-csv", "hour-csv", "counts", "requests")

_TIME_COLUMNS_RATE = ("t", "t_s", "second", "second_of_day")
_TIME_COLUMNS_REQUESTS = ("timestamp", "time", "ts", "arrival_time", "datetime")
_BUCKET_HEADERS = {
    "minute-csv": (("t_min",), ("count_per_minute", "count", "rpm"), 60),
    "hour-csv": (("t_hour",), ("count_per_hour", "count", "rph"), 3600),
}
_ARCHIVE_SUFFIXES = (".tbz2", ".tar.bz2", ".tbz", ".tar.gz", ".tgz", ".tar")


# -- reading bytes --------------------------------------------------------------------------------
def _read_text(path: Path, member: str | None) -> tuple[str, str]:
    """The file's text and a display name (``archive.tbz2:member`` for archive members)."""
    name = str(path)
    lower = path.name.lower()
    try:
        if lower.endswith(_ARCHIVE_SUFFIXES):
            with tarfile.open(path) as tf:
                members = [m for m in tf.getmembers() if m.isfile()]
                if member is None:
                    if len(members) != 1:
                        raise TraceError(
                            f"{name}: archive holds {len(members)} files "
                            f"({', '.join(m.name for m in members[:5])}); pass member=<name>"
                        )
                    chosen = members[0]
                else:
                    found = [m for m in members if m.name == member]
                    if not found:
                        raise TraceError(
                            f"{name}: archive has no member {member!r}; it holds "
                            f"{', '.join(m.name for m in members[:10])}"
                        )
                    chosen = found[0]
                handle = tf.extractfile(chosen)
                assert handle is not None  # regular files always have a handle
                raw = handle.read()
                name = f"{name}:{chosen.name}"
        elif lower.endswith(".bz2"):
            raw = bz2.decompress(path.read_bytes())
        elif lower.endswith(".gz"):
            raw = gzip.decompress(path.read_bytes())
        else:
            raw = path.read_bytes()
    except (tarfile.TarError, OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise TraceNotFound(f"trace file {name} does not exist") from None
        raise TraceError(f"{name}: cannot read the file ({exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TraceError(f"{name}: not a UTF-8 text file ({exc})") from None
    return text, name


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _header(line: str) -> list[str]:
    return [c.strip().strip('"').lower() for c in line.split(",")]


def _looks_numeric(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def detect_format(text: str, name: str) -> str:
    """The format of a file's text (see the module docstring)."""
    line = _first_line(text)
    if not line:
        raise TraceError(f"{name}: the file is empty (no values)")
    first_token = line.replace(",", " ").split()[0]
    if _looks_numeric(first_token):
        if "," in line:
            raise TraceError(
                f"{name}: line 1 {line[:60]!r} looks like a CSV without a header; add a header "
                "('rps', 't,rps' or 't_min,count_per_minute') or pass format='counts' for "
                "whitespace-separated values"
            )
        return "counts"
    cols = _header(line)
    if "rps" in cols:
        return "rate-csv"
    if "t_min" in cols or "count_per_minute" in cols or ("period" in cols and "count" in cols):
        return "minute-csv"
    if "t_hour" in cols or "count_per_hour" in cols:
        return "hour-csv"
    if any(c in cols for c in _TIME_COLUMNS_REQUESTS):
        return "requests"
    raise TraceError(
        f"{name}: line 1 header {line[:80]!r} matches no trace format; allowed headers: "
        "'rps', 't,rps', 't_min,count_per_minute', 't_hour,count_per_hour', or a request log "
        f"with a time column ({', '.join(_TIME_COLUMNS_REQUESTS)}); or pass format= one of "
        f"{', '.join(FORMATS)}"
    )


# -- checks ---------------------------------------------------------------------------------------
def _line_of_row(text: str, row: int) -> tuple[int, str]:
    """1-based line number and content of CSV data row ``row`` (0-based, header on line 1)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip())
    index = start + 1 + row
    return index + 1, lines[index] if index < len(lines) else ""


def _raw_field(raw: str, columns: list[str], column: str) -> str:
    """The text of ``column`` in a raw CSV line (as written in the file)."""
    fields = raw.split(",")
    index = columns.index(column)
    return fields[index].strip() if index < len(fields) else ""


def _check_values(
    values: np.ndarray, text: str, name: str, column: str, columns: list[str]
) -> None:
    """Raise on the first NaN, infinite or negative value, naming its line and text."""
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        line, raw = _line_of_row(text, int(bad[0]))
        field = _raw_field(raw, columns, column)
        what = "is empty" if not field else f"has value {field!r}"
        raise TraceError(
            f"{name}, line {line}: column {column!r} {what} (row {raw!r}); values must be "
            "finite numbers >= 0 (nothing is dropped or clipped)"
        )


def _read_csv(text: str, name: str) -> Any:
    import pandas as pd

    try:
        frame = pd.read_csv(
            io.StringIO(text.rstrip()), skip_blank_lines=False, skipinitialspace=True
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise TraceError(f"{name}: not a valid CSV file ({exc})") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if len(frame) == 0:
        raise TraceError(f"{name}: the file has a header but no data rows")
    return frame


def _numeric(frame: Any, column: str, text: str, name: str) -> np.ndarray:
    import pandas as pd

    series = frame[column]
    if not pd.api.types.is_numeric_dtype(series):
        converted = pd.to_numeric(series, errors="coerce")
        bad = np.flatnonzero(converted.isna().to_numpy() & series.notna().to_numpy())
        if bad.size:
            line, raw = _line_of_row(text, int(bad[0]))
            raise TraceError(
                f"{name}, line {line}: column {column!r} has non-numeric value "
                f"{_raw_field(raw, list(frame.columns), column)!r} (row {raw!r})"
            )
        series = converted
    values = series.to_numpy(dtype=np.float64)
    _check_values(values, text, name, column, list(frame.columns))
    return values


def _check_consecutive(t: np.ndarray, text: str, name: str, column: str, gaps: str) -> np.ndarray:
    """Positions of the rows in a gap-free series; steps other than +1 raise unless gaps='zero'."""
    if np.any(t != np.round(t)):
        i = int(np.flatnonzero(t != np.round(t))[0])
        line, raw = _line_of_row(text, i)
        raise TraceError(
            f"{name}, line {line}: time column {column!r} holds {t[i]:g}, not a whole number "
            f"(row {raw!r})"
        )
    steps = np.diff(t)
    wrong = np.flatnonzero(steps <= 0) if gaps == "zero" else np.flatnonzero(steps != 1)
    if wrong.size:
        i = int(wrong[0]) + 1
        line, raw = _line_of_row(text, i)
        kind = (
            "goes backwards or repeats"
            if steps[i - 1] <= 0
            else f"skips {int(steps[i - 1]) - 1} step(s)"
        )
        raise TraceError(
            f"{name}, line {line}: time column {column!r} {kind} ({t[i - 1]:g} -> {t[i]:g}, row "
            f"{raw!r}); it must count up by 1 (pass gaps='zero' to fill missing steps with 0)"
        )
    return (t - t[0]).astype(np.int64)


# -- formats --------------------------------------------------------------------------------------
def _load_counts(text: str, name: str) -> np.ndarray:
    tokens = text.split()
    if not tokens:
        raise TraceError(f"{name}: the file is empty (no values)")
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        values = None
    if values is None or not np.all(np.isfinite(values) & (values >= 0)):
        # Slow path, only on bad input: find the first offending token and its line.
        for number, line in enumerate(text.splitlines(), start=1):
            for token in line.split():
                try:
                    v = float(token)
                except ValueError:
                    raise TraceError(f"{name}, line {number}: {token!r} is not a number") from None
                if not np.isfinite(v) or v < 0:
                    raise TraceError(
                        f"{name}, line {number}: value {token!r}; values must be finite numbers "
                        ">= 0 (nothing is dropped or clipped)"
                    )
    assert values is not None
    return values


def _load_rate_csv(text: str, name: str, column: str | None, gaps: str) -> tuple[np.ndarray, dict]:
    frame = _read_csv(text, name)
    col = (column or "rps").lower()
    if col not in frame.columns:
        raise TraceError(f"{name}: no column {col!r}; columns are {list(frame.columns)}")
    values = _numeric(frame, col, text, name)
    meta: dict[str, Any] = {"columns": list(frame.columns)}
    tcol = next((c for c in _TIME_COLUMNS_RATE if c in frame.columns), None)
    if tcol is not None:
        t = _numeric(frame, tcol, text, name)
        pos = _check_consecutive(t, text, name, tcol, gaps)
        meta["t0"] = float(t[0])
        if pos[-1] + 1 != values.size:
            filled = np.zeros(int(pos[-1]) + 1)
            filled[pos] = values
            meta["filled_gaps_s"] = int(filled.size - values.size)
            values = filled
    return values, meta


def _load_bucket_csv(
    text: str, name: str, fmt: str, rule: str, gaps: str
) -> tuple[np.ndarray, dict, int]:
    import pandas as pd

    frame = _read_csv(text, name)
    time_names, count_names, step = _BUCKET_HEADERS[fmt]
    ccol = next((c for c in count_names if c in frame.columns), None)
    if ccol is None:
        raise TraceError(
            f"{name}: no count column ({' or '.join(count_names)}); "
            f"columns are {list(frame.columns)}"
        )
    counts = _numeric(frame, ccol, text, name)
    meta: dict[str, Any] = {"columns": list(frame.columns)}
    tcol = next((c for c in time_names if c in frame.columns), None)
    if tcol is not None:
        index = _check_consecutive(_numeric(frame, tcol, text, name), text, name, tcol, gaps)
    elif "period" in frame.columns:
        try:
            stamps = pd.to_datetime(frame["period"], format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise TraceError(
                f"{name}: column 'period' holds a value that is not a time ({exc})"
            ) from None
        seconds = (stamps - stamps.iloc[0]).dt.total_seconds().to_numpy() / step
        index = _check_consecutive(seconds, text, name, "period", gaps)
        meta["first_period"] = str(stamps.iloc[0])
    else:
        raise TraceError(f"{name}: no time column ({' or '.join(time_names)} or period)")
    if index[-1] + 1 != counts.size:
        filled = np.zeros(int(index[-1]) + 1)
        filled[index] = counts
        meta["filled_gaps"] = int(filled.size - counts.size)
        meta["filled_gaps_unit_s"] = step
        counts = filled
    meta["buckets"] = int(counts.size)
    meta["resample"] = rule
    return expand_counts(counts, step, rule), meta, step


def _load_requests(text: str, name: str, time_column: str | None) -> tuple[np.ndarray, dict]:
    import pandas as pd

    frame = _read_csv(text, name)
    col = (
        time_column.lower()
        if time_column
        else next((c for c in _TIME_COLUMNS_REQUESTS if c in frame.columns), None)
    )
    if col is None or col not in frame.columns:
        raise TraceError(
            f"{name}: request log has no time column {col or ''!r}; columns are "
            f"{list(frame.columns)}; pass time_column=<name>"
        )
    raw = frame[col]
    cols = list(frame.columns)
    empty = np.flatnonzero(raw.isna().to_numpy())
    if empty.size:
        line, row = _line_of_row(text, int(empty[0]))
        raise TraceError(f"{name}, line {line}: column {col!r} is empty (row {row!r})")
    numeric = pd.to_numeric(raw, errors="coerce")
    if not numeric.isna().any():
        seconds = numeric.to_numpy(dtype=np.float64)
        kind = "epoch seconds"
        bad = np.flatnonzero(~np.isfinite(seconds))
        if bad.size:
            line, row = _line_of_row(text, int(bad[0]))
            raise TraceError(
                f"{name}, line {line}: time {_raw_field(row, cols, col)!r} is not finite"
            )
    else:
        stamps = pd.to_datetime(raw.astype(str), format="ISO8601", errors="coerce", utc=True)
        bad = np.flatnonzero(stamps.isna().to_numpy())
        if bad.size:
            line, row = _line_of_row(text, int(bad[0]))
            raise TraceError(
                f"{name}, line {line}: time {_raw_field(row, cols, col)!r} is neither epoch "
                "seconds nor an ISO 8601 time"
            )
        # Relative to the whole second of the first request, so seconds are wall-clock seconds.
        seconds = (stamps - stamps.iloc[0].floor("s")).dt.total_seconds().to_numpy()
        kind = "ISO 8601"
    back = np.flatnonzero(np.diff(seconds) < 0)
    if back.size:
        i = int(back[0]) + 1
        line, row = _line_of_row(text, i)
        _, previous = _line_of_row(text, i - 1)
        raise TraceError(
            f"{name}, line {line}: time {_raw_field(row, cols, col)!r} is earlier than the "
            f"previous row's {_raw_field(previous, cols, col)!r}; a request log must be sorted "
            "by time"
        )
    origin = np.floor(seconds[0])
    counts = np.bincount(np.floor(seconds - origin).astype(np.int64)).astype(np.float64)
    meta = {"requests": int(seconds.size), "time_column": col, "time_kind": kind}
    if kind == "epoch seconds":
        meta["t0_epoch_s"] = float(origin)
    else:
        meta["t0"] = str(stamps.iloc[0])
    return counts, meta


def read_trace_file(
    path: str | Path,
    *,
    format: str | None = None,
    member: str | None = None,
    column: str | None = None,
    time_column: str | None = None,
    resample: str = "hold",
    gaps: str = "error",
    name: str | None = None,
) -> Trace:
    """Read one trace file.

    Args:
        path: The file (plain, ``.gz``/``.bz2``, or a tar archive).
        format: One of :data:`FORMATS`; None detects it from the content.
        member: Archive member to read (needed when an archive holds several files).
        column: Rate column of a ``rate-csv`` (default ``rps``).
        time_column: Time column of a ``requests`` log.
        resample: Rule for per-minute/hourly counts: one of ``RESAMPLE_RULES``.
        gaps: ``error`` (default) or ``zero``: fill missing time steps with 0 (recorded in
            ``metadata``).
        name: Name of the returned trace (default: the file name).

    Raises:
        TraceNotFound: The file does not exist.
        TraceError: The file is malformed (the message names the file, line and value).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise TraceNotFound(f"trace file {str(p)!r} does not exist")
    if format is not None and format not in FORMATS:
        raise TraceError(f"{p}: unknown format {format!r}; allowed: {', '.join(FORMATS)}")
    if resample not in RESAMPLE_RULES:
        raise TraceError(
            f"{p}: unknown resample rule {resample!r}; allowed: {', '.join(RESAMPLE_RULES)}"
        )
    if gaps not in ("error", "zero"):
        raise TraceError(f"{p}: gaps={gaps!r}; allowed: error, zero")
    text, shown = _read_text(p, member)
    fmt = format or detect_format(text, shown)
    if not text.strip():
        raise TraceError(f"{shown}: the file is empty (no values)")
    resolution = 1
    meta: dict[str, Any] = {}
    if fmt == "counts":
        values = _load_counts(text, shown)
    elif fmt == "rate-csv":
        values, meta = _load_rate_csv(text, shown, column, gaps)
    elif fmt in _BUCKET_HEADERS:
        values, meta, resolution = _load_bucket_csv(text, shown, fmt, resample, gaps)
    else:
        values, meta = _load_requests(text, shown, time_column)
    meta.update({"kind": "file", "format": fmt, "path": str(p)})
    stem = p.name.split(".")[0]
    return Trace(values, name=name or stem, source=shown, resolution_s=resolution, metadata=meta)
