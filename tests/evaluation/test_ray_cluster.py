"""The Ray backend against real local clusters started with ``ray start --head``.

One cluster without authentication and one with Ray's default token authentication (a token
in ``~/.ray/auth_token``, ``RAY_AUTH_MODE`` unset: ``ray start`` then enables it). The
leaderboard joins each with ``--address`` (and ``--ray-token-file``); on the token cluster a
Ray worker is killed mid-run and the run must be retried by Ray and recorded once, ok.

Each cluster gets its own HOME, temp dir and ports, and every process it started is killed by
id at teardown (``ray stop`` would stop every Ray cluster of the user on the machine).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.evaluation.helpers import HOLD, SLOW
from themis_env.evaluation.records import read_records

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)"),
    pytest.mark.xdist_group("ray"),  # one Ray at a time on a 2-core machine
]

ROOT = Path(__file__).resolve().parents[2]
TASK_TITLE = "ray::_run_spec_dict"  # the process title of a Ray worker running a run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry))
    return tree


def _descendants(root: int) -> list[int]:
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Head:
    """A ``ray start --head --block`` process and what it started."""

    def __init__(self, root: Path, auth: str) -> None:
        self.root = root
        self.home = root / "home"
        (self.home / ".ray").mkdir(parents=True)
        self.token_file: Path | None = None
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update(HOME=str(self.home), RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(ROOT))
        if auth == "token":
            # Ray's default: a token where `ray get-auth-token --generate` puts it, mode unset.
            self.token_file = self.home / ".ray" / "auth_token"
            self.token_file.write_text(secrets.token_hex(32))
        else:
            env["RAY_AUTH_MODE"] = "disabled"
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp_dir = root / "t"
        cmd = [
            sys.executable,
            "-m",
            "ray.scripts.scripts",
            "start",
            "--head",
            "--block",
            f"--port={self.port}",
            "--num-cpus=2",
            f"--temp-dir={self.temp_dir}",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--metrics-export-port={_free_port()}",
        ]
        self.log = root / "ray-start.log"
        with self.log.open("w") as log:
            # Its own session: a Ctrl-C of pytest does not reach it before the teardown does.
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.seen: set[int] = {self.proc.pid}

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.seen.update(_descendants(self.proc.pid))
            if "Ray runtime started" in self.log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"ray start did not come up:\n{self.log.read_text(errors='replace')}")

    def ours(self) -> list[int]:
        """Live processes of this cluster: the tree under ``ray start`` and those seen in it."""
        self.seen.update(_descendants(self.proc.pid))
        temp = str(self.temp_dir)
        for pid in _children_flat():
            if temp in _cmdline(pid):
                self.seen.add(pid)
        return [pid for pid in self.seen if _alive(pid)]

    def stop(self) -> list[int]:
        """Stop every process of the cluster; returns those still alive after 10 s of trying."""
        self.ours()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # --block stops the cluster's processes
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while (left := self.ours()) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        return self.ours()


def _children_flat() -> list[int]:
    return [pid for pids in _children().values() for pid in pids]


@pytest.fixture(scope="module", params=["no-auth", "token"])
def head(request: pytest.FixtureRequest) -> Iterator[Head]:
    # A short path: Ray's socket paths under the temp dir must fit in 107 bytes.
    with tempfile.TemporaryDirectory(prefix="rt-", dir="/tmp") as tmp:
        cluster = Head(Path(tmp), request.param)
        try:
            cluster.wait_ready()
            yield cluster
        finally:
            survivors = cluster.stop()
        assert not survivors, f"Ray processes left running: {survivors}"


def _suite(path: Path) -> Path:
    data = {
        "name": "ray-tiny",
        "scenarios": [{"scenario": "smoke-video", "label": "video-40s"}],
        "seeds": 1,
        "overrides": {"episode_s": 40},
        # SLOW sleeps 50 ms per decision: a run lasts seconds, long enough to be killed.
        "policies": [{"name": SLOW, "label": "slow"}, {"name": HOLD, "label": "hold"}],
        "reference": {"policies": ["hold"]},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _leaderboard(cluster: Head, out: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "themis_env",
        "leaderboard",
        "--suite",
        str(_suite(out.parent / f"{out.name}.yaml")),
        "--out",
        str(out),
        "--backend",
        "ray",
        "--address",
        cluster.address,
        "--no-plots",
        "-q",
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    # The same HOME as the cluster: its token is in the default place, and still not sent to
    # an explicit address unless asked (Ray's rule).
    env.update(HOME=str(cluster.home), PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0")
    env["RAY_NUM_REDIS_GET_RETRIES"] = "4"  # a refused connection fails in ~4 s, not ~20
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _kill_a_running_task(cluster: Head, proc: subprocess.Popen[str], timeout: float) -> int:
    """SIGKILL the first worker of ``cluster`` seen running a run; its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for pid in cluster.ours():
            if _cmdline(pid).startswith(TASK_TITLE):
                os.kill(pid, signal.SIGKILL)
                return pid
        time.sleep(0.05)
    raise AssertionError("no Ray worker was seen running a run")


def test_leaderboard_joins_with_address_and_a_killed_worker_costs_time_not_a_record(
    head: Head, tmp_path: Path
) -> None:
    extra = ("--ray-token-file", str(head.token_file)) if head.token_file else ()
    proc = _leaderboard(head, tmp_path / "lb", *extra)
    killed = None
    if head.token_file:  # once is enough: the retry does not depend on authentication
        killed = _kill_a_running_task(head, proc, timeout=90)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"{out}\n{err}"
    records = read_records(tmp_path / "lb" / "records.jsonl")
    assert sorted(r.policy.ref for r in records) == sorted([SLOW, HOLD])  # the killed one once
    assert all(r.ok for r in records), [r.error for r in records]
    if killed is not None:
        assert not _alive(killed)


def test_a_token_cluster_refuses_without_the_token_and_says_how_to_pass_it(
    head: Head, tmp_path: Path
) -> None:
    if head.token_file is None:
        pytest.skip("the cluster without authentication takes any connection")
    proc = _leaderboard(head, tmp_path / "lb")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert head.address in last and "--ray-token-file" in last
    assert not (tmp_path / "lb" / "records.jsonl").exists() or not read_records(
        tmp_path / "lb" / "records.jsonl"
    )
