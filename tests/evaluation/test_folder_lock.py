"""Two leaderboards never work in one folder at once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from themis_env.cli import main
from themis_env.evaluation.folder_lock import FolderBusy, FolderLock
from themis_env.evaluation.harness import run_leaderboard


def test_a_second_leaderboard_on_a_busy_folder_refuses_naming_the_holder(
    tmp_path: Path, tiny_suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lb"
    out.mkdir()
    with FolderLock(out):
        with pytest.raises(
            FolderBusy, match=rf"in use by another leaderboard \(pid {os.getpid()}\)"
        ):
            run_leaderboard(tiny_suite, out, resume=True, plots=False, progress=False)
        argv = ["leaderboard", "--suite", str(tiny_suite), "--out", str(out), "--resume", "-q"]
        assert main(argv) == 2
        assert "--wait" in capsys.readouterr().err
    assert not (out / "records.jsonl").exists()  # the refused one ran nothing


def test_wait_queues_behind_the_holder(tmp_path: Path, tiny_suite: Path) -> None:
    out = tmp_path / "lb"
    out.mkdir()
    lock = FolderLock(out)
    lock.acquire()
    timer = threading.Timer(1.0, lock.release)
    timer.start()
    try:
        result = run_leaderboard(tiny_suite, out, seeds=[0], plots=False, progress=False, wait=True)
    finally:
        timer.join(timeout=10)
        lock.release()
    assert result.executed == 4


def test_the_lock_ends_with_its_process(tmp_path: Path) -> None:
    code = (
        "import os, signal, sys\n"
        "from themis_env.evaluation.folder_lock import FolderLock\n"
        "FolderLock(sys.argv[1]).acquire()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], timeout=60)
    assert proc.returncode == -9
    with FolderLock(tmp_path):  # a stale lock file blocks no one
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
