from __future__ import annotations

import json

import pytest

from themis_env.cli import main


def test_list(capsys, tmp_path):
    (tmp_path / "nasa_http_1995_rps.csv").write_text("rps\n1\n")
    assert main(["traces", "list", "--trace-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"found: {tmp_path / 'nasa_http_1995_rps.csv'}" in out
    assert "missing: themis-env traces fetch twitter-2021-08" in out
    for word in ("twitter-2021-08#themis", "ipa-fluctuating", "bursty", "mmpp", "rate-csv"):
        assert word in out


def test_show_json_and_table(capsys):
    assert main(["traces", "show", "synthetic:steady?seed=0&mean=20&duration=300", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["duration_s"] == 300 and stats["mean"] == pytest.approx(20, abs=1)
    assert main(["traces", "show", "synthetic:steady?noise=none&duration=700", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["autocorr_1s"] is None  # constant: no correlation
    uri = "synthetic:bursty?seed=0&mean=144&duration=660"
    assert (
        main(["traces", "show", uri, "--start", "10", "--duration", "100", "-O", "divisor=4.384"])
        == 0
    )
    out = capsys.readouterr().out
    assert "divisor(4.384) -> window(10,100)" in out
    assert "duration_s       100" in out


def test_show_missing_named_trace_explains(capsys):
    assert main(["traces", "show", "worldcup-1998"]) == 2
    err = capsys.readouterr().err
    assert "not on this machine" in err and "traces fetch worldcup-1998" in err


def test_show_bad_option_syntax(capsys):
    with pytest.raises(SystemExit):
        main(["traces", "show", "synthetic:steady", "-O", "divisor"])
    assert "--option 'divisor' must be KEY=VALUE" in capsys.readouterr().err


def test_plot_writes_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "t.png"
    assert main(["traces", "plot", "synthetic:spike?duration=300", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["traces", "plot", "synthetic:spike", "-o", str(tmp_path / "no" / "x.png")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_fetch_from_local_file(tmp_path, capsys, monkeypatch):
    import dataclasses

    from themis_env.traces import NAMED_TRACES

    entry = dataclasses.replace(NAMED_TRACES["nasa-1995"], rows=3, mean=2.0, max=3.0)
    monkeypatch.setitem(NAMED_TRACES, "nasa-1995", entry)
    local = tmp_path / "mine.csv"
    local.write_text("rps\n1\n2\n3\n")
    assert (
        main(["traces", "fetch", "nasa-1995", "--from", str(local), "--dest", str(tmp_path / "d")])
        == 0
    )
    assert "installed" in capsys.readouterr().out
    assert (tmp_path / "d" / "nasa_http_1995_rps.csv").read_text() == local.read_text()


def test_fetch_unreachable_says_how(tmp_path, capsys, monkeypatch):
    import dataclasses

    from themis_env.traces import NAMED_TRACES

    entry = NAMED_TRACES["worldcup-1998"]
    gone = (tmp_path / "gone.csv").as_uri()
    files = tuple(dataclasses.replace(f, url=gone) if f.url else f for f in entry.files)
    monkeypatch.setitem(NAMED_TRACES, "worldcup-1998", dataclasses.replace(entry, files=files))
    assert main(["traces", "fetch", "worldcup-1998"]) == 2
    assert "--from FILE" in capsys.readouterr().err


def test_traces_without_subcommand_prints_help(capsys):
    assert main(["traces"]) == 2
    assert "list" in capsys.readouterr().out
