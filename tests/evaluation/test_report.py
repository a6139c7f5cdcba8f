"""``leaderboard.html``: self-contained, and it renders in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.evaluation.helpers import HOLD, REACTIVE
from themis_env.evaluation.harness import run_leaderboard
from themis_env.evaluation.report import report_status

pytest.importorskip("matplotlib")

# Where the screenshot is kept (CI collects it as an artefact).
ARTEFACTS = Path(os.environ.get("THEMIS_TEST_ARTEFACTS", "test-artefacts"))
_CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")
    return found


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    suite = tmp_path_factory.mktemp("suite") / "tiny.yaml"
    suite.write_text(
        "name: tiny\n"
        "scenarios:\n"
        "  - {scenario: smoke-video, label: video-12s, overrides: {episode_s: 12}}\n"
        "seeds: 2\n"
        f"policies: [{{name: '{HOLD}', label: hold}}, {{name: '{REACTIVE}', label: reactive}}]\n"
        "reference: {policies: [hold]}\n",
        encoding="utf-8",
    )
    out = tmp_path_factory.mktemp("board")
    run_leaderboard(suite, out, timelines="all", progress=False)
    return out


def test_the_page_is_self_contained(board_dir: Path) -> None:
    text = (board_dir / "leaderboard.html").read_text(encoding="utf-8")
    # No fetch from anywhere: every src is inline data, and links are relative files.
    assert re.findall(r'src="(?!data:)', text) == []
    assert "http://" not in text and "https://" not in text
    assert text.count("<img ") == 1 + 4  # the frontier and a timeline per run
    assert '<a href="records.jsonl">' in text
    assert "SLO-attainment target" in text and "themis_env/InferenceCluster-v1 (v1)" in text


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def test_the_page_renders_in_headless_chromium(board_dir: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    page = (board_dir / "leaderboard.html").resolve().as_uri()
    base = [chromium, *_CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    # The page's script writes what it found into the DOM once everything has loaded.
    dom = _run([*base, "--virtual-time-budget=5000", "--dump-dom", page])
    assert dom.returncode == 0, dom.stderr[-2000:]
    status = report_status(dom.stdout)
    assert status["errors"] == []
    assert status["broken"] == []
    assert status["images"] == 5
    rows = {t["id"]: t["rows"] for t in status["tables"]}
    assert rows == {"overall": 2, "table-0": 2}  # one row per policy
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / "leaderboard.png"
    done = _run([*base, "--window-size=1280,1600", f"--screenshot={shot.resolve()}", page])
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
