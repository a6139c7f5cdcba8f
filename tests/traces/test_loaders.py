from __future__ import annotations

import bz2
import gzip
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from themis_env.errors import TraceError, TraceNotFound
from themis_env.traces import load, read_trace_file

VALUES = [3, 0, 7, 12, 5]


def text(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def tar_bz2(path: Path, members: dict[str, str]) -> Path:
    with tarfile.open(path, "w:bz2") as tf:
        for name, content in members.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


# -- formats and detection ------------------------------------------------------------------------
def test_rate_csv(tmp_path):
    t = load(text(tmp_path / "a.csv", "rps\n" + "\n".join(map(str, VALUES)) + "\n\n"))
    assert t.rps.tolist() == VALUES
    assert t.metadata["format"] == "rate-csv"
    assert t.name == "a"


def test_rate_csv_with_time_column_and_extra_columns(tmp_path):
    t = load(text(tmp_path / "b.csv", "second_of_day,created,deleted,rps\n100,1,2,3\n101,4,0,4\n"))
    assert t.rps.tolist() == [3, 4]
    assert t.metadata["t0"] == 100
    t2 = load(text(tmp_path / "c.csv", "t,rps\n0,1.5\n1,2.5\n2,0\n"))
    assert t2.rps.tolist() == [1.5, 2.5, 0]


def test_time_column_gap_is_an_error_unless_filled(tmp_path):
    path = text(tmp_path / "gap.csv", "t,rps\n0,1\n1,2\n4,3\n")
    with pytest.raises(TraceError, match=r"gap.csv, line 4: time column 't' skips 2 step\(s\)"):
        load(path)
    filled = load(path, gaps="zero")
    assert filled.rps.tolist() == [1, 2, 0, 0, 3]
    assert filled.metadata["filled_gaps_s"] == 2
    far = text(tmp_path / "far.csv", "t,rps\n0,1\n1e12,2\n")
    with pytest.raises(TraceError, match="far.csv: time column 't' from 0 to 1000000000000 would"):
        load(far, gaps="zero")


def test_per_minute_csv_is_expanded(tmp_path):
    t = load(text(tmp_path / "m.csv", "t_min,count_per_minute\n0,60\n1,120\n"))
    assert len(t) == 120 and t.resolution_s == 60
    assert t.rps[0] == 1 and t.rps[119] == 2
    assert t.total_requests == pytest.approx(180)
    lin = load(tmp_path / "m.csv", resample="linear")
    assert lin.total_requests == pytest.approx(180)
    assert lin.metadata["resample"] == "linear"


def test_per_minute_with_timestamps_like_worldcup_original(tmp_path):
    path = text(
        tmp_path / "wc.csv",
        "period,count\n1998-04-30 21:30:00,60\n1998-04-30 21:31:00,120\n1998-04-30 21:33:00,60\n",
    )
    with pytest.raises(TraceError, match="line 4.*skips 1 step"):
        load(path)
    t = load(path, gaps="zero")
    assert len(t) == 240
    assert t.rps[120:180].tolist() == [0] * 60
    assert t.metadata["filled_gaps"] == 1


def test_hourly_csv(tmp_path):
    t = load(text(tmp_path / "h.csv", "t_hour,count_per_hour\n0,3600\n1,7200\n"))
    assert len(t) == 7200 and t.resolution_s == 3600
    assert t.rps[0] == 1 and t.rps[-1] == 2


def test_whitespace_counts_txt_and_compressed(tmp_path):
    body = "3 0 7\n12   5\n"
    for t in (
        load(text(tmp_path / "w.txt", body)),
        load(tar_bz2(tmp_path / "w.tbz2", {"workload.txt": body})),
        load(tar_bz2(tmp_path / "w.tar.bz2", {"workload.txt": body})),
    ):
        assert t.rps.tolist() == VALUES
        assert t.metadata["format"] == "counts"
    (tmp_path / "w.txt.gz").write_bytes(gzip.compress(body.encode()))
    (tmp_path / "w.txt.bz2").write_bytes(bz2.compress(body.encode()))
    assert load(tmp_path / "w.txt.gz").rps.tolist() == VALUES
    assert load(tmp_path / "w.txt.bz2").rps.tolist() == VALUES
    with tarfile.open(tmp_path / "w.tar.gz", "w:gz") as tf:
        tf.add(tmp_path / "w.txt", arcname="workload.txt")
    assert load(tmp_path / "w.tar.gz").rps.tolist() == VALUES


def test_archive_with_several_members_needs_member(tmp_path):
    path = tar_bz2(tmp_path / "two.tbz2", {"a.txt": "1 2", "b.txt": "3 4"})
    with pytest.raises(TraceError, match="holds 2 files.*member="):
        load(path)
    assert load(path, member="b.txt").rps.tolist() == [3, 4]
    with pytest.raises(TraceError, match="no member 'c.txt'"):
        load(path, member="c.txt")


def test_request_log_epoch_and_iso(tmp_path):
    epoch = text(tmp_path / "r.csv", "timestamp,id\n100.2,a\n100.9,b\n101.0,c\n103.5,d\n")
    t = load(epoch)
    assert t.rps.tolist() == [2, 1, 0, 1]
    assert t.metadata["requests"] == 4 and t.metadata["t0_epoch_s"] == 100
    iso = text(
        tmp_path / "iso.csv",
        "when,x\n2021-08-01T00:00:00.5Z,1\n2021-08-01T00:00:01Z,1\n2021-08-01T00:00:01.7Z,1\n",
    )
    t2 = load(iso, format="requests", time_column="when")
    assert t2.rps.tolist() == [1, 2]


def test_explicit_format_override(tmp_path):
    # A one-column file without header is counts; with format='counts' a .csv works too.
    path = text(tmp_path / "plain.csv", "1\n2\n3\n")
    assert load(path, format="counts").rps.tolist() == [1, 2, 3]
    with pytest.raises(TraceError, match="unknown format 'xml'"):
        load(path, format="xml")


def test_shipped_examples_load():
    from themis_env.resources import traces_dir

    folder = traces_dir()
    bursty = load(folder / "synthetic_bursty.csv")
    assert np.array_equal(load(folder / "example_counts.txt").rps, bursty.rps)
    per_minute = load(folder / "example_per_minute.csv")
    assert per_minute.total_requests == pytest.approx(bursty.total_requests)
    requests = load(folder / "example_requests.csv")
    assert np.array_equal(requests.rps, bursty.rps[:30])


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("empty.csv", "", "empty.csv: the file is empty"),
        ("blank.txt", "  \n\n", "blank.txt: the file is empty"),
        ("header.csv", "rps\n", "header but no data rows"),
        ("neg.csv", "rps\n1\n-2\n3\n", r"neg.csv, line 3: column 'rps' has value '-2'"),
        ("nan.csv", "rps\n1\nnan\n", r"nan.csv, line 3: column 'rps' has value 'nan'"),
        ("inf.csv", "rps\n1\n2\ninf\n", r"inf.csv, line 4: column 'rps' has value 'inf'"),
        (
            "text.csv",
            "rps\n1\nabc\n3\n",
            r"text.csv, line 3: column 'rps' has non-numeric value 'abc'",
        ),
        ("hole.csv", "rps\n1\n\n3\n", r"hole.csv, line 3: column 'rps' is empty"),
        ("neg.txt", "1 2\n3 -4\n", r"neg.txt, line 2: value '-4'"),
        ("nan.txt", "1 nan 2\n", r"nan.txt, line 1: value 'nan'"),
        ("word.txt", "1 2\n3\nfour 5\n", r"word.txt, line 3: 'four' is not a number"),
        (
            "back.csv",
            "t,rps\n0,1\n2,1\n1,1\n",
            r"back.csv, line 4: time column 't' goes back from 2 to 1 .*time order.*sort=true",
        ),
        (
            "unsorted.csv",
            "timestamp\n10\n12\n11\n",
            r"unsorted.csv, line 4: time '11'.*earlier.*sorted by time \(pass sort=true",
        ),
        (
            "badtime.csv",
            "timestamp\n2021-01-01T00:00:00\nyesterday\n",
            r"badtime.csv, line 3: time 'yesterday'",
        ),
        ("nohead.csv", "1,2\n3,4\n", "line 1 .* looks like a CSV without a header"),
        ("what.csv", "a,b\n1,2\n", "matches no trace format; allowed headers"),
        (
            "stray.csv",  # one timestamp of 0 in an epoch log: 51 years of seconds
            "timestamp\n0\n1627776000\n",
            r"stray.csv: requests from time 0 to 1627776000 .* above the longest allowed",
        ),
        (
            "minneg.csv",
            "t_min,count_per_minute\n0,5\n1,-5\n",
            r"minneg.csv, line 3: column 'count_per_minute'",
        ),
    ],
)
def test_bad_files_name_file_line_value(tmp_path, name, content, match):
    with pytest.raises(TraceError, match=match):
        load(text(tmp_path / name, content))


def test_bad_archive_and_missing_file(tmp_path):
    (tmp_path / "broken.tbz2").write_bytes(b"not an archive")
    with pytest.raises(TraceError, match="broken.tbz2: cannot read"):
        load(tmp_path / "broken.tbz2")
    with pytest.raises(TraceNotFound, match="does not exist"):
        load(tmp_path / "nope.csv")
    with pytest.raises(TraceNotFound):
        load(f"file:{tmp_path / 'nope.csv'}")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(TraceError, match="not a UTF-8 text file"):
        read_trace_file(tmp_path / "bin.txt")


# -- a folder is not a missing file ------------------------------------------------------------
def test_a_folder_is_reported_as_a_folder(tmp_path, monkeypatch):
    folder = tmp_path / "traces"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    for ref in (folder, str(folder), f"file:{folder}", "traces", "./traces/"):
        with pytest.raises(TraceError, match="'.*traces' is a folder, not a file") as err:
            load(ref)
        assert not isinstance(err.value, TraceNotFound), ref  # no scenario fallback for it


# -- request logs with an unknown time column name (item 12) --------------------------------------
def test_the_one_timestamp_column_of_a_request_log_is_found(tmp_path):
    iso = text(
        tmp_path / "alibaba.csv",
        "request_id,gmt_create,model\n"
        "17,2021-08-01 00:00:00.2,a\n18,2021-08-01 00:00:00.9,b\n19,2021-08-01 00:00:02.5,a\n",
    )
    t = load(iso)
    assert t.rps.tolist() == [2, 0, 1]
    assert t.metadata["format"] == "requests" and t.metadata["time_column"] == "gmt_create"
    epoch = text(tmp_path / "epoch.csv", "id,created,bytes\n1,1627776000.5,300\n2,1627776001,20\n")
    assert load(epoch).metadata["time_column"] == "created"  # ids and sizes are not epoch times
    assert load(epoch, format="requests").rps.tolist() == [1, 1]


def test_several_timestamp_columns_are_named_and_time_column_picks_one(tmp_path):
    path = text(
        tmp_path / "two.csv",
        "id,gmt_create,gmt_modified\n1,2021-08-01T00:00:00,2021-08-01T00:00:05\n"
        "2,2021-08-01T00:00:01,2021-08-01T00:00:03\n",
    )
    for options in ({}, {"format": "requests"}):
        with pytest.raises(
            TraceError,
            match=r"several columns hold timestamps \(gmt_create, gmt_modified\).*time_column=",
        ):
            load(path, **options)
    assert load(path, time_column="gmt_create", format="requests").rps.tolist() == [1, 1]
    with pytest.raises(TraceError, match="line 3: time '2021-08-01T00:00:03' is earlier"):
        load(path, time_column="gmt_modified", format="requests")


def test_no_timestamp_column_says_what_was_looked_for(tmp_path):
    path = text(tmp_path / "none.csv", "id,model\n1,a\n2,b\n")
    with pytest.raises(
        TraceError, match="matches no trace format.*one column that holds timestamps"
    ):
        load(path)
    with pytest.raises(TraceError, match="no column holds timestamps in every row; columns are"):
        load(path, format="requests")


# -- separators and row order (item 13) -----------------------------------------------------------
@pytest.mark.parametrize("sep", [" ", "  ", "\t"])
def test_whitespace_and_tab_separated_tables(tmp_path, sep):
    rows = ["t", "rps"], ["0", "3"], ["1", "0"], ["2", "7"]
    t = load(text(tmp_path / "w.txt", "\n".join(sep.join(r) for r in rows) + "\n"))
    assert t.rps.tolist() == [3, 0, 7] and t.metadata["format"] == "rate-csv"
    log = text(tmp_path / "log.tsv", f"timestamp{sep}id\n100.5{sep}a\n101.2{sep}b\n")
    assert load(log).rps.tolist() == [1, 1]
    bad = text(tmp_path / "bad.txt", sep.join(["t", "rps"]) + f"\n0{sep}3\n1{sep}x\n")
    with pytest.raises(
        TraceError, match=r"bad.txt, line 3: column 'rps' has non-numeric value 'x'"
    ):
        load(bad)


def test_a_time_with_a_space_in_a_whitespace_table_is_named(tmp_path):
    # pandas would take the date as an index and shift every column by one.
    path = text(tmp_path / "s.txt", "time count\n2021-08-01 00:00:00 5\n2021-08-01 00:00:01 6\n")
    with pytest.raises(
        TraceError,
        match=r"s.txt, line 2: a data row has more fields than the header's 2 columns.*01T00:00",
    ):
        load(path)
    comma = text(tmp_path / "c.csv", "t,rps\n0,1,9\n1,2\n")
    with pytest.raises(TraceError, match=r"c.csv, line 2: a data row has more fields"):
        load(comma)


def test_unsorted_rows_are_an_error_unless_sort_is_given(tmp_path):
    rate = text(tmp_path / "r.csv", "t,rps\n0,5\n2,6\n1,4\n")
    with pytest.raises(TraceError, match=r"line 4: .*goes back from 2 to 1.*sort=true"):
        load(rate, gaps="zero")
    assert load(rate, sort=True).rps.tolist() == [5, 4, 6]
    assert load(f"file:{rate}?sort=true").rps.tolist() == [5, 4, 6]
    with pytest.raises(TraceError, match="not in time order"):
        load(rate, sort="false")
    minute = text(tmp_path / "m.csv", "t_min,count_per_minute\n1,120\n0,60\n")
    with pytest.raises(TraceError, match="not in time order"):
        load(minute)
    assert load(minute, sort=True).rps[[0, 60]].tolist() == [1, 2]
    log = text(tmp_path / "l.csv", "timestamp\n10.5\n12\n11\n")
    assert load(log, sort="1").rps.tolist() == [1, 1, 1]
    with pytest.raises(TraceError, match="repeats 1 .*one row per time step"):
        load(text(tmp_path / "d.csv", "t,rps\n0,5\n1,6\n1,4\n"), sort=True)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"sort": "maybe"}, "sort='maybe'; allowed: true, false"),
        ({"format": "counts", "sort": True}, "option sort=True does not apply to format counts"),
        ({"format": "counts", "time_column": "t"}, "option time_column='t' does not apply"),
    ],
)
def test_bad_sort_options(tmp_path, options, match):
    with pytest.raises(TraceError, match=match):
        load(text(tmp_path / "x.csv", "t,rps\n0,1\n"), **options)


# -- rate readings of several sources (item 14) --------------------------------------------------
def readings(path: Path, header: str, *, by_source: bool = False) -> Path:
    """Two sources ('a' reads 10+t, 'b' reads 1) at 3 sample times; rows by time or by source."""
    rows = [(t, s, 10 + t if s == "a" else 1) for t in range(3) for s in "ab"]
    if by_source:
        rows.sort(key=lambda r: r[1])
    base = 1_600_000_000 if header.startswith(("timestamp", "time,")) else 0
    body = "".join(f"{base + t},{s},{v}\n" for t, s, v in rows)
    return text(path, header + "\n" + body)


def test_aggregate_sum_adds_the_readings_of_each_time_in_any_row_order(tmp_path):
    for header in ("t,source,rps", "timestamp,source,rps"):
        for by_source in (False, True):
            path = readings(tmp_path / "r.csv", header, by_source=by_source)
            t = load(path, aggregate="sum")
            assert t.rps.tolist() == [11, 12, 13], (header, by_source)
            assert t.metadata["aggregate"] == "sum" and t.metadata["readings"] == 6
    value = readings(tmp_path / "v.csv", "time,instance,value")
    assert load(f"file:{value}?column=value&aggregate=sum").rps.tolist() == [11, 12, 13]


def test_readings_without_aggregate_are_an_error_that_names_it(tmp_path):
    path = readings(tmp_path / "r.csv", "t,source,rps")
    with pytest.raises(TraceError, match=r"line 3: time column 't' repeats 0 .*aggregate=sum"):
        load(path)
    # A time column of any name is found, as in a request log (it was ignored before).
    iso = text(
        tmp_path / "g.csv",
        "gmt_create,pod,rps\n2021-08-01 00:00:00,a,3\n2021-08-01 00:00:00,b,4\n"
        "2021-08-01 00:00:01,a,5\n",
    )
    with pytest.raises(TraceError, match="time column 'gmt_create' repeats 0 .*aggregate=sum"):
        load(iso)
    summed = load(iso, aggregate="sum")
    assert summed.rps.tolist() == [7, 5] and summed.metadata["t0"] == "2021-08-01 00:00:00+00:00"


def test_the_two_option_sets_that_loaded_readings_silently_are_errors(tmp_path):
    # 1. No options (or format=rate-csv) on 'timestamp,source,rps': the time column's name was
    #    not a rate-csv one, so each row became the next second: 6 s of 10,1,11,1,12,1 instead
    #    of 3 s of 11,12,13.
    stamped = readings(tmp_path / "s.csv", "timestamp,source,rps")
    for options in ({}, {"format": "rate-csv"}):
        with pytest.raises(TraceError, match="'timestamp' repeats 1600000000 .*aggregate=sum"):
            load(stamped, **options)
    # 2. format=requests on the same file, or column=value on 'time,instance,value' (detected
    #    as a request log, column= ignored): the rows of each second were counted, giving the
    #    number of sources (2,2,2) and ignoring the readings.
    with pytest.raises(TraceError, match="rate column 'rps'.*requests counts rows.*aggregate=sum"):
        load(stamped, format="requests")
    valued = readings(tmp_path / "v.csv", "time,instance,value")
    with pytest.raises(TraceError, match="'time' repeats 1600000000 .*aggregate=sum"):
        load(valued, column="value")
    with pytest.raises(TraceError, match="column='value' does not apply to format requests"):
        load(valued, format="requests", column="value")


@pytest.mark.parametrize(
    ("content", "options", "match"),
    [
        ("rps\n1\n2\n", {"aggregate": "sum"}, "aggregate=sum .* no time column"),
        ("t,rps\n0,1\n", {"aggregate": "mean"}, "aggregate='mean'; allowed: sum"),
        ("t,rps\n0,1\n", {"format": "requests", "aggregate": "sum"}, "does not apply"),
        ("t,s,rps\n0,a,1\n0,b,nan\n", {"aggregate": "sum"}, r"line 3: column 'rps' has value"),
        ("t,s,rps\n0,a,1\n2,a,1\n", {"aggregate": "sum"}, r"line 3: time column 't' skips 1"),
        ("t,rps\n0,1\n", {"time_column": "when"}, "no time column 'when'"),
    ],
)
def test_bad_aggregate_options_and_readings(tmp_path, content, options, match):
    with pytest.raises(TraceError, match=match):
        load(text(tmp_path / "x.csv", content), **options)


def test_a_rate_csv_with_iso_times_counts_up_by_one_second(tmp_path):
    path = text(
        tmp_path / "iso.csv",
        "datetime,rps\n2021-08-01T00:00:00Z,3\n2021-08-01T00:00:01Z,4\n2021-08-01T00:00:03Z,5\n",
    )
    with pytest.raises(TraceError, match="line 4: time column 'datetime' skips 1 step"):
        load(path)
    t = load(path, gaps="zero")
    assert t.rps.tolist() == [3, 4, 0, 5] and t.metadata["t0"] == "2021-08-01 00:00:00+00:00"
