"""Read trace files into :class:`Trace` objects, with strict checks.

Formats (``format=`` overrides the detection):

``rate-csv``
    A table with a header holding an ``rps`` column (or ``column=``): req/s, one row per
    second. An optional time column ``t`` (or ``t_s``, ``second``, ``second_of_day``, a
    request-log time name below, ``time_column=``, or the one other column that holds
    timestamps) must count up by exactly 1. With
    ``aggregate=sum`` the rows are readings of several sources (one row per source and time)
    and the readings of each time are summed into one rate.
``minute-csv`` / ``hour-csv``
    ``t_min,count_per_minute`` (or ``t_hour,count_per_hour``): request counts per bucket,
    expanded to per-second rates by the ``resample`` rule (see :mod:`themis_env.traces.resample`).
    ``period,count`` with a timestamp per minute (the WorldCup98 original) is read as well.
``counts``
    Whitespace-separated non-negative numbers, one per second, in a ``.txt`` file, in a
    ``.gz``/``.bz2`` file, or as the only member of a ``.tbz2``/``.tar.bz2``/``.tar.gz`` archive
    (the Twitter and NASA ``workload.tbz2`` format).
``requests``
    A per-request log: a table with a header and one request per row; the time column
    (``timestamp``, ``time``, ``ts``, ``arrival_time`` or ``datetime``; or ``time_column=``;
    else the one column whose values all parse as times) holds epoch seconds or ISO 8601
    times. Requests are counted into whole seconds from the second of the first request.

Tables are comma-, tab- or whitespace-separated (told from the header line). Giving
``column=`` or ``aggregate=`` selects ``rate-csv``.

Every value is checked: an empty file, a non-numeric, negative, NaN or infinite value, a time
column that repeats or skips, rows out of time order (unless ``sort=true``), a text above
``max_mb`` once decompressed, raise :class:`~themis_env.errors.TraceError` naming the file,
the line and the value. Nothing is dropped or clipped; the only change made to a file is
ignoring trailing blank lines at its end.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from themis_env.errors import TraceError, TraceNotFound
from themis_env.traces.resample import RESAMPLE_RULES, expand_counts
from themis_env.traces.textfile import DEFAULT_MAX_MB, read_text
from themis_env.traces.trace import Trace, check_length

__all__ = ["AGGREGATES", "FORMATS", "read_trace_file", "detect_format"]

FORMATS = ("rate-csv", "minute-csv", "hour-csv", "counts", "requests")
AGGREGATES = ("sum",)

_TIME_COLUMNS_RATE = ("t", "t_s", "second", "second_of_day")
_TIME_COLUMNS_REQUESTS = ("timestamp", "time", "ts", "arrival_time", "datetime")
_BUCKET_HEADERS = {
    "minute-csv": (("t_min",), ("count_per_minute", "count", "rpm"), 60),
    "hour-csv": (("t_hour",), ("count_per_hour", "count", "rph"), 3600),
}
# Which formats each option applies to; given for another format it is an error, not ignored.
_OPTION_FORMATS = {
    "column": ("rate-csv",),
    "aggregate": ("rate-csv",),
    "time_column": ("rate-csv", "requests"),
    "sort": ("rate-csv", "minute-csv", "hour-csv", "requests"),
}
# Rows looked at to find a timestamp column, and the epoch seconds taken as times (1973-2286):
# a column of small numbers (ids, sizes) is not a time.
_DETECT_ROWS = 1000
_NON_BLANK_LINE = re.compile(r"[^\r\n]*\S[^\r\n]*")
_EPOCH_RANGE_S = (1e8, 1e10)


# -- tables ---------------------------------------------------------------------------------------
def _first_line(text: str) -> str:
    """The first line that is not blank, found without splitting the whole text."""
    match = _NON_BLANK_LINE.search(text)
    return match.group().strip() if match else ""


def _head(text: str, rows: int) -> str:
    """The text up to its ``rows + 1``-th line, without splitting the rest."""
    end = -1
    for _ in range(rows + 1):
        end = text.find("\n", end + 1)
        if end < 0:
            return text
    return text[:end]


def _separator(header: str) -> str | None:
    """The separator of a table: ',' or a tab when the header holds one, else None (whitespace)."""
    for sep in (",", "\t"):
        if sep in header:
            return sep
    return None if len(header.split()) > 1 else ","


def _fields(line: str, sep: str | None) -> list[str]:
    return line.split(sep) if sep else line.split()


def _header(line: str) -> list[str]:
    return [c.strip().strip('"').lower() for c in _fields(line, _separator(line))]


def _looks_numeric(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _read_csv(text: str, name: str, sep: str | None) -> Any:
    import pandas as pd

    try:
        with warnings.catch_warnings():
            # With index_col=False pandas warns, and drops fields, when a row has more fields
            # than the header; without it, it would shift every column by one instead.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text.rstrip()),
                sep=sep or r"\s+",
                index_col=False,
                skip_blank_lines=False,
                skipinitialspace=sep is not None,
            )
    except pd.errors.ParserWarning:
        raise TraceError(_extra_fields(text, name, sep)) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise TraceError(f"{name}: not a valid CSV file ({exc})") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    frame.attrs["sep"] = sep
    if len(frame) == 0:
        raise TraceError(f"{name}: the file has a header but no data rows")
    return frame


def _extra_fields(text: str, name: str, sep: str | None) -> str:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip())
    columns = [c.strip() for c in _fields(lines[start], sep)]
    where = ""
    for number, line in enumerate(lines[start + 1 :], start=start + 2):
        if len(_fields(line, sep)) > len(columns):
            where = f", line {number}"
            break
    message = (
        f"{name}{where}: a data row has more fields than the header's {len(columns)} columns "
        f"({', '.join(columns)})"
    )
    if sep is None:
        message += (
            "; in a whitespace-separated table a value cannot hold a space (write times as "
            "2021-08-01T00:00:00, or use commas)"
        )
    return message


# -- checks ---------------------------------------------------------------------------------------
def _line_of_row(text: str, row: int) -> tuple[int, str]:
    """1-based line number and content of CSV data row ``row`` (0-based, header on line 1)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip())
    index = start + 1 + row
    return index + 1, lines[index] if index < len(lines) else ""


def _raw_field(raw: str, frame: Any, column: str) -> str:
    """The text of ``column`` in a raw line of ``frame``'s file (as written in the file)."""
    fields = _fields(raw, frame.attrs.get("sep", ","))
    index = list(frame.columns).index(column)
    return fields[index].strip() if index < len(fields) else ""


def _check_values(values: np.ndarray, text: str, name: str, column: str, frame: Any) -> None:
    """Raise on the first NaN, infinite or negative value, naming its line and text."""
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        line, raw = _line_of_row(text, int(bad[0]))
        field = _raw_field(raw, frame, column)
        what = "is empty" if not field else f"has value {field!r}"
        raise TraceError(
            f"{name}, line {line}: column {column!r} {what} (row {raw!r}); values must be "
            "finite numbers >= 0 (nothing is dropped or clipped)"
        )


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
                f"{_raw_field(raw, frame, column)!r} (row {raw!r})"
            )
        series = converted
    values = series.to_numpy(dtype=np.float64)
    _check_values(values, text, name, column, frame)
    return values


def _times(frame: Any, column: str, text: str, name: str) -> tuple[np.ndarray, Any]:
    """A time column in seconds, and its parsed ISO 8601 stamps (None for epoch seconds).

    ISO 8601 times are counted from the whole second of the first row, so that seconds are
    wall-clock seconds.
    """
    import pandas as pd

    raw = frame[column]
    empty = np.flatnonzero(raw.isna().to_numpy())
    if empty.size:
        line, row = _line_of_row(text, int(empty[0]))
        raise TraceError(f"{name}, line {line}: column {column!r} is empty (row {row!r})")
    numeric = pd.to_numeric(raw, errors="coerce")
    if not numeric.isna().any():
        seconds = numeric.to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(seconds))
        if bad.size:
            line, row = _line_of_row(text, int(bad[0]))
            raise TraceError(
                f"{name}, line {line}: time {_raw_field(row, frame, column)!r} is not finite"
            )
        return seconds, None
    stamps = pd.to_datetime(raw.astype(str), format="ISO8601", errors="coerce", utc=True)
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if bad.size:
        line, row = _line_of_row(text, int(bad[0]))
        raise TraceError(
            f"{name}, line {line}: time {_raw_field(row, frame, column)!r} is neither epoch "
            "seconds nor an ISO 8601 time"
        )
    return (stamps - stamps.iloc[0].floor("s")).dt.total_seconds().to_numpy(), stamps


def _timestamp_columns(frame: Any) -> list[str]:
    """Columns whose every value is a time: ISO 8601 text, or epoch seconds from 1973 to 2286."""
    import pandas as pd

    found = []
    for column in frame.columns:
        values = frame[column].dropna()
        if values.empty:
            continue
        numeric = pd.to_numeric(values, errors="coerce")
        if not numeric.isna().any():
            if numeric.between(*_EPOCH_RANGE_S).all():
                found.append(column)
            continue
        stamps = pd.to_datetime(values.astype(str), format="ISO8601", errors="coerce", utc=True)
        if not stamps.isna().any():
            found.append(column)
    return found


def _detected_time_column(frame: Any, name: str) -> str | None:
    """The one column of ``frame``'s first rows that holds timestamps; None if no column does.

    Raises:
        TraceError: Several columns do (the message names them).
    """
    found = _timestamp_columns(frame.head(_DETECT_ROWS))
    if len(found) > 1:
        raise TraceError(
            f"{name}: several columns hold timestamps ({', '.join(found)}), so the time of a "
            "row is ambiguous; pass time_column= one of them"
        )
    return found[0] if found else None


def _check_consecutive(
    t: np.ndarray,
    text: str,
    name: str,
    column: str,
    gaps: str,
    rows: np.ndarray | None = None,
    repeat_hint: str = "",
) -> np.ndarray:
    """Positions of the rows in a gap-free series; steps other than +1 raise unless gaps='zero'.

    Args:
        t: The time column, in the order to check.
        text: The file's text (for the messages).
        name: The file's display name.
        column: The time column's name.
        gaps: ``error`` or ``zero`` (steps of more than 1 are allowed and filled later).
        rows: The file row of each entry of ``t`` (when the rows were sorted or grouped).
        repeat_hint: Added to the message on a repeated time.
    """
    rows = np.arange(t.size) if rows is None else rows

    def at(i: int) -> str:
        line = _line_of_row(text, int(rows[i]))[0]
        return f"{name}, line {line}: time column {column!r}"

    def row(i: int) -> str:
        return repr(_line_of_row(text, int(rows[i]))[1])

    fraction = np.flatnonzero(t != np.round(t))
    if fraction.size:
        i = int(fraction[0])
        raise TraceError(f"{at(i)} holds {t[i]:.15g}, not a whole number (row {row(i)})")
    steps = np.diff(t)
    back = np.flatnonzero(steps < 0)
    if back.size:
        i = int(back[0]) + 1
        raise TraceError(
            f"{at(i)} goes back from {t[i - 1]:.15g} to {t[i]:.15g} (row {row(i)}): the rows "
            "are not in time order; pass sort=true to sort them by time"
        )
    same = np.flatnonzero(steps == 0)
    if same.size:
        i = int(same[0]) + 1
        raise TraceError(
            f"{at(i)} repeats {t[i]:.15g} (row {row(i)}); there must be one row per time step"
            + repeat_hint
        )
    skip = np.flatnonzero(steps > 1)
    if skip.size and gaps != "zero":
        i = int(skip[0]) + 1
        raise TraceError(
            f"{at(i)} skips {int(steps[i - 1]) - 1} step(s) ({t[i - 1]:.15g} -> {t[i]:.15g}, row "
            f"{row(i)}); it must count up by 1 (pass gaps='zero' to fill missing steps with 0)"
        )
    return (t - t[0]).astype(np.int64)


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
    try:
        head = _read_csv(_head(text, _DETECT_ROWS), name, _separator(line))
    except TraceError:
        head = None
    if head is not None and _detected_time_column(head, name) is not None:
        return "requests"
    raise TraceError(
        f"{name}: line 1 header {line[:80]!r} matches no trace format; allowed headers: "
        "'rps', 't,rps', 't_min,count_per_minute', 't_hour,count_per_hour', or a request log "
        f"with a time column ({', '.join(_TIME_COLUMNS_REQUESTS)}) or with one column that "
        "holds timestamps (epoch seconds or ISO 8601) in every row; or pass format= one of "
        f"{', '.join(FORMATS)}"
    )


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


def _rate_time_column(frame: Any, name: str, rate: str, time_column: str | None) -> str | None:
    """The time column of a rate table: given, a known name, or the one holding timestamps."""
    if time_column:
        if time_column.lower() not in frame.columns:
            raise TraceError(
                f"{name}: no time column {time_column.lower()!r}; columns are {list(frame.columns)}"
            )
        return time_column.lower()
    names = _TIME_COLUMNS_RATE + _TIME_COLUMNS_REQUESTS
    known = next((c for c in names if c in frame.columns), None)
    return known or _detected_time_column(frame.drop(columns=[rate]), name)


def _load_rate_csv(
    text: str,
    name: str,
    sep: str | None,
    column: str | None,
    time_column: str | None,
    aggregate: str | None,
    sort: bool,
    gaps: str,
) -> tuple[np.ndarray, dict]:
    frame = _read_csv(text, name, sep)
    col = (column or "rps").lower()
    if col not in frame.columns:
        raise TraceError(f"{name}: no column {col!r}; columns are {list(frame.columns)}")
    values = _numeric(frame, col, text, name)
    meta: dict[str, Any] = {"columns": list(frame.columns)}
    tcol = _rate_time_column(frame, name, col, time_column)
    if tcol is None:
        if aggregate:
            raise TraceError(
                f"{name}: aggregate={aggregate} sums the readings of each time, but the file has "
                f"no time column ({', '.join(_TIME_COLUMNS_RATE + _TIME_COLUMNS_REQUESTS)}); "
                f"columns are {list(frame.columns)}; pass time_column=<name>"
            )
        return values, meta
    if tcol in _TIME_COLUMNS_RATE:
        t, stamps = _numeric(frame, tcol, text, name), None
    else:
        t, stamps = _times(frame, tcol, text, name)
    rows = np.arange(t.size)
    if aggregate:
        # One rate per time: the sum of that time's readings, whatever order the rows are in.
        t, rows, inverse = np.unique(t, return_index=True, return_inverse=True)
        values = np.bincount(inverse, weights=values, minlength=t.size)
        meta.update({"aggregate": aggregate, "readings": int(inverse.size)})
    elif sort:
        rows = np.argsort(t, kind="stable")
        t, values = t[rows], values[rows]
    pos = _check_consecutive(
        t,
        text,
        name,
        tcol,
        gaps,
        rows,
        repeat_hint=" (rate readings of several sources at one time: pass aggregate=sum)",
    )
    meta["t0"] = float(t[0]) if stamps is None else str(stamps.iloc[int(rows[0])])
    check_length(pos[-1] + 1, f"{name}: time column {tcol!r} from {t[0]:.15g} to {t[-1]:.15g}")
    if pos[-1] + 1 != values.size:
        filled = np.zeros(int(pos[-1]) + 1)
        filled[pos] = values
        meta["filled_gaps_s"] = int(filled.size - values.size)
        values = filled
    return values, meta


def _load_bucket_csv(
    text: str, name: str, sep: str | None, fmt: str, rule: str, gaps: str, sort: bool
) -> tuple[np.ndarray, dict, int]:
    import pandas as pd

    frame = _read_csv(text, name, sep)
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
    stamps = None
    if tcol is not None:
        t = _numeric(frame, tcol, text, name)
    elif "period" in frame.columns:
        tcol = "period"
        try:
            stamps = pd.to_datetime(frame["period"], format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise TraceError(
                f"{name}: column 'period' holds a value that is not a time ({exc})"
            ) from None
        t = (stamps - stamps.iloc[0]).dt.total_seconds().to_numpy() / step
    else:
        raise TraceError(f"{name}: no time column ({' or '.join(time_names)} or period)")
    rows = np.arange(t.size)
    if sort:
        rows = np.argsort(t, kind="stable")
        t, counts = t[rows], counts[rows]
    index = _check_consecutive(t, text, name, tcol, gaps, rows)
    if stamps is not None:
        meta["first_period"] = str(stamps.iloc[int(rows[0])])
    check_length((index[-1] + 1) * step, f"{name}: time column {tcol!r}")
    if index[-1] + 1 != counts.size:
        filled = np.zeros(int(index[-1]) + 1)
        filled[index] = counts
        meta["filled_gaps"] = int(filled.size - counts.size)
        meta["filled_gaps_unit_s"] = step
        counts = filled
    meta["buckets"] = int(counts.size)
    meta["resample"] = rule
    return expand_counts(counts, step, rule), meta, step


def _request_time_column(frame: Any, name: str, time_column: str | None) -> str:
    col = (
        time_column.lower()
        if time_column
        else next((c for c in _TIME_COLUMNS_REQUESTS if c in frame.columns), None)
    )
    if col is None:
        col = _detected_time_column(frame, name)
        if col is None:
            raise TraceError(
                f"{name}: request log has no time column ({', '.join(_TIME_COLUMNS_REQUESTS)}) "
                f"and no column holds timestamps in every row; columns are "
                f"{list(frame.columns)}; pass time_column=<name>"
            )
    if col not in frame.columns:
        raise TraceError(
            f"{name}: request log has no time column {col!r}; columns are "
            f"{list(frame.columns)}; pass time_column=<name>"
        )
    return col


def _load_requests(
    text: str, name: str, sep: str | None, time_column: str | None, sort: bool
) -> tuple[np.ndarray, dict]:
    frame = _read_csv(text, name, sep)
    if "rps" in frame.columns:
        # Counting rows would ignore the rates and count the sources instead.
        raise TraceError(
            f"{name}: the file has a rate column 'rps', but format requests counts rows (one "
            "request each) and would ignore it; for rate readings use format rate-csv, with "
            "aggregate=sum when there is one row per source and time"
        )
    col = _request_time_column(frame, name, time_column)
    seconds, stamps = _times(frame, col, text, name)
    if sort:
        seconds = np.sort(seconds, kind="stable")
    back = np.flatnonzero(np.diff(seconds) < 0)
    if back.size:
        i = int(back[0]) + 1
        line, row = _line_of_row(text, i)
        _, previous = _line_of_row(text, i - 1)
        raise TraceError(
            f"{name}, line {line}: time {_raw_field(row, frame, col)!r} is earlier than the "
            f"previous row's {_raw_field(previous, frame, col)!r}; a request log must be sorted "
            "by time (pass sort=true to sort it)"
        )
    origin = np.floor(seconds[0])
    check_length(
        np.floor(seconds[-1] - origin) + 1,
        f"{name}: requests from time {seconds[0]:.15g} to {seconds[-1]:.15g} in column {col!r}",
    )
    counts = np.bincount(np.floor(seconds - origin).astype(np.int64)).astype(np.float64)
    kind = "epoch seconds" if stamps is None else "ISO 8601"
    meta = {"requests": int(seconds.size), "time_column": col, "time_kind": kind}
    if stamps is None:
        meta["t0_epoch_s"] = float(origin)
    else:
        meta["t0"] = str(stamps.min() if sort else stamps.iloc[0])
    return counts, meta


# -- options --------------------------------------------------------------------------------------
def _flag(path: Path, key: str, value: bool | str) -> bool:
    """A yes/no option given as a bool or as query text (``true``/``false``, ``1``/``0``)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise TraceError(f"{path}: {key}={value!r}; allowed: true, false")


def _size_mb(path: Path, value: float | str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TraceError(f"{path}: max_mb={value!r} is not a number") from None
    if not (math.isfinite(number) and number > 0):
        raise TraceError(f"{path}: max_mb={value!r} must be a finite number > 0")
    return number


def read_trace_file(
    path: str | Path,
    *,
    format: str | None = None,
    member: str | None = None,
    column: str | None = None,
    time_column: str | None = None,
    aggregate: str | None = None,
    sort: bool | str = False,
    resample: str = "hold",
    gaps: str = "error",
    max_mb: float | str = DEFAULT_MAX_MB,
    name: str | None = None,
) -> Trace:
    """Read one trace file.

    Args:
        path: The file (plain, ``.gz``/``.bz2``, or a tar archive).
        format: One of :data:`FORMATS`; None detects it from the content.
        member: Archive member to read (needed when an archive holds several files).
        column: Rate column of a ``rate-csv`` (default ``rps``).
        time_column: Time column of a ``rate-csv`` or ``requests`` file.
        aggregate: ``sum``: a ``rate-csv`` holds readings of several sources, one row per
            source and time; the readings of each time are summed (rows in any order).
        sort: Sort the rows by time first (``true``/``false``); without it rows out of time
            order are an error.
        resample: Rule for per-minute/hourly counts: one of ``RESAMPLE_RULES``.
        gaps: ``error`` (default) or ``zero``: fill missing time steps with 0 (recorded in
            ``metadata``).
        max_mb: Largest text read, in MB after decompression (default
            :data:`~themis_env.traces.textfile.DEFAULT_MAX_MB`).
        name: Name of the returned trace (default: the file name).

    Raises:
        TraceNotFound: The file does not exist.
        TraceError: The file is malformed (the message names the file, line and value), is a
            folder, is above ``max_mb``, or an option does not apply to its format.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise TraceError(
            f"trace path {str(p)!r} is a folder, not a file; give a trace file (formats: "
            f"{', '.join(FORMATS)})"
        )
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
    if aggregate is not None and aggregate not in AGGREGATES:
        raise TraceError(f"{p}: aggregate={aggregate!r}; allowed: {', '.join(AGGREGATES)}")
    sorted_rows = _flag(p, "sort", sort)
    text, shown = read_text(p, member, _size_mb(p, max_mb))
    fmt = format or ("rate-csv" if column or aggregate else detect_format(text, shown))
    if not text.strip():
        raise TraceError(f"{shown}: the file is empty (no values)")
    given = {"column": column, "aggregate": aggregate, "time_column": time_column}
    for key, value in {**given, "sort": sorted_rows}.items():
        if value and fmt not in _OPTION_FORMATS[key]:
            raise TraceError(
                f"{shown}: option {key}={value!r} does not apply to format {fmt}, only to "
                f"{', '.join(_OPTION_FORMATS[key])}"
            )
    sep = _separator(_first_line(text))
    resolution = 1
    meta: dict[str, Any] = {}
    if fmt == "counts":
        values = _load_counts(text, shown)
    elif fmt == "rate-csv":
        values, meta = _load_rate_csv(
            text, shown, sep, column, time_column, aggregate, sorted_rows, gaps
        )
    elif fmt in _BUCKET_HEADERS:
        values, meta, resolution = _load_bucket_csv(
            text, shown, sep, fmt, resample, gaps, sorted_rows
        )
    else:
        values, meta = _load_requests(text, shown, sep, time_column, sorted_rows)
    meta.update({"kind": "file", "format": fmt, "path": str(p)})
    stem = p.name.split(".")[0]
    return Trace(values, name=name or stem, source=shown, resolution_s=resolution, metadata=meta)
