"""Every citation in the code, configs and docs can be followed from the repository.

Sources are papers (arXiv ids), the authors' repositories at a commit and the Kubernetes
sources; the team's private research notes are not in the repository, so neither their names
nor their section numbers (``§1.6``) nor tracker issue numbers may stand in for a source.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("themis_env", "baselines", "agents", "benchmarks", "configs", "traces", "tests")
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml"}
NOTES = ("themis-and-related", "kubernetes-autoscalers", "gym-anchors", "style-by-example")
UNRESOLVABLE = re.compile(
    "|".join(re.escape(n) for n in NOTES) + r"|reference §|§\s?\d|\bissue [0-9#]", re.IGNORECASE
)


def _files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "pyproject.toml"]
    for folder in FOLDERS:
        files += sorted(
            p for p in (ROOT / folder).rglob("*") if p.suffix in SUFFIXES and p.is_file()
        )
    return [p for p in files if p.resolve() != Path(__file__).resolve()]


def test_the_scan_sees_the_sources() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in _files()}
    assert {"baselines/hpa.py", "themis_env/config/schema.py", "README.md"} <= names


def test_no_citation_of_notes_outside_the_repository() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in _files()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if UNRESOLVABLE.search(line)
    ]
    assert not hits, "cite the primary source instead:\n" + "\n".join(hits)
