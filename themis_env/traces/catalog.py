"""Named real traces: where they come from, which files to look for, and where to look.

A named trace is looked up, in this order, in the ``trace_dir`` argument (``--trace-dir``),
in each folder of ``THEMIS_TRACE_DIR`` (``os.pathsep``-separated), and in the user cache
(``THEMIS_TRACE_CACHE``, else ``$XDG_CACHE_HOME/themis-env/traces``, else
``~/.cache/themis-env/traces``), which ``themis-env traces fetch`` fills. In each folder the
file names are tried in the order listed: first the per-second CSV made by the team
(``../shared/traces``), then the published original (under our name, then under its name in
the source repository).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from themis_env.errors import TraceError, TraceNotFound, did_you_mean

__all__ = [
    "NAMED_TRACES",
    "NamedTrace",
    "TraceFile",
    "cache_dir",
    "find_trace_file",
    "named_trace",
    "search_dirs",
]


@dataclass(frozen=True)
class TraceFile:
    """One file that holds a named trace.

    Attributes:
        names: Relative paths to look for in a trace folder (first match wins).
        loader: Options for :func:`~themis_env.traces.loaders.read_trace_file`.
        url: Public address of exactly this file, or None for a derived file.
        sha256: Its SHA-256, checked by ``fetch``; None for a derived file.
    """

    names: tuple[str, ...]
    loader: Mapping[str, Any] = field(default_factory=dict)
    url: str | None = None
    sha256: str | None = None

    @property
    def filename(self) -> str:
        """The name this file is stored under in the cache."""
        return self.names[0]


@dataclass(frozen=True)
class NamedTrace:
    """A real public trace.

    Attributes:
        name: Name used in URIs (``twitter-2021-08``).
        description: One line.
        files: Files that hold it, preferred first; the one with a ``url`` is the original.
        rows: Rows of the source data (seconds, or minutes for a per-minute source).
        resolution_s: Resolution of the source data [s].
        mean: Mean of the source values (req/s, or req/min for a per-minute source).
        max: Largest source value.
        origin: Where the original comes from (repository, commit, underlying data).
        license: What is known about its license.
        notes: Caveats (gaps, artefacts) a user must know.
    """

    name: str
    description: str
    files: tuple[TraceFile, ...]
    rows: int
    resolution_s: int
    mean: float
    max: float
    origin: str
    license: str
    notes: str = ""

    @property
    def original(self) -> TraceFile:
        """The published file (the one ``fetch`` downloads)."""
        return next(f for f in self.files if f.url is not None)

    def how_to_obtain(self) -> str:
        """Instructions for getting the trace onto this machine."""
        orig = self.original
        return (
            f"Get it with `themis-env traces fetch {self.name}` (downloads {orig.url}, "
            f"sha256 {orig.sha256}), or download that file yourself and install it with "
            f"`themis-env traces fetch {self.name} --from FILE`, or put "
            f"{' or '.join(repr(n) for n in self.files[0].names + orig.names[:1])} in a folder "
            "given by --trace-dir / trace_dir= or THEMIS_TRACE_DIR."
        )


_WSD = "https://github.com/reconfigurable-ml-pipeline/web-service-datasets/raw/7404ad6643602943511e75ab3095fb1ccc990fd1/dataset"

NAMED_TRACES: dict[str, NamedTrace] = {
    t.name: t
    for t in (
        NamedTrace(
            name="twitter-2021-08",
            description="Twitter stream, August 2021, events per second (IPA, Sponge, Themis)",
            files=(
                TraceFile(("twitter_2021_08_rps.csv",), {"format": "rate-csv"}),
                TraceFile(
                    (
                        "twitter_2021_08_workload_original.tbz2",
                        "twitter_trace/workload.tbz2",
                        "dataset/twitter_trace/workload.tbz2",
                    ),
                    {"format": "counts"},
                    url=f"{_WSD}/twitter_trace/workload.tbz2",
                    sha256="b13052c83c64d169810fe1cfec35cb6b56c96e17c023156a23c9a067e1ac66bd",
                ),
            ),
            rows=1_899_061,
            resolution_s=1,
            mean=63.6,
            max=388.0,
            origin=(
                "reconfigurable-ml-pipeline/web-service-datasets "
                "dataset/twitter_trace/workload.tbz2 "
                "@7404ad66 (same blob in reconfigurable-ml-pipeline/ipa and InfAdapter); "
                "Archive Team Twitter Stream Grab, August 2021"
            ),
            license="no license stated by the source repositories; aggregate counts only",
            notes=(
                "Index 0 is very likely 2021-08-01 00:00 UTC. Every day has a 1,739-1,740 s run of "
                "zeros from offset 84,661 (23:31-24:00 missing) and there is a 150 s zero gap at "
                "1,089,596: missing data, not zero load."
            ),
        ),
        NamedTrace(
            name="nasa-1995",
            description="NASA Kennedy Space Center HTTP logs, Jul-Aug 1995, requests per second",
            files=(
                TraceFile(("nasa_http_1995_rps.csv",), {"format": "rate-csv"}),
                TraceFile(
                    (
                        "nasa_http_1995_workload_original.tbz2",
                        "nasa/workload.tbz2",
                        "dataset/nasa/workload.tbz2",
                    ),
                    {"format": "counts"},
                    url=f"{_WSD}/nasa/workload.tbz2",
                    sha256="7fa62292d993dde1f278eaa039b50860203a86fbc93a8f92150a548191be4ded",
                ),
            ),
            rows=5_059_950,
            resolution_s=1,
            mean=0.684,
            max=20.0,
            origin=(
                "reconfigurable-ml-pipeline/web-service-datasets "
                "dataset/nasa/workload.tbz2 @7404ad66; "
                "Internet Traffic Archive NASA-HTTP (NASA_access_log_Jul95, NASA_access_log_Aug95)"
            ),
            license=(
                "not stated by the repository; ITA NASA-HTTP is described as freely redistributable"
            ),
            notes=(
                "Index 0 is 1995-07-01 00:00 (-0400). July stops on Jul 28 about 13:32 and the "
                "series jumps to Aug 1 at index ~2,381,543; 135,851 zeros from 2,435,065 are a "
                "real outage "
                "(Hurricane Erin). Mean 0.68 req/s: scale it up before use."
            ),
        ),
        NamedTrace(
            name="worldcup-1998",
            description="1998 FIFA World Cup web site, requests per minute expanded to seconds",
            files=(
                TraceFile(("worldcup98_rpm.csv",), {"format": "minute-csv", "resample": "hold"}),
                TraceFile(
                    ("worldcup98_invocation_count_original.csv", "invocation_count.csv"),
                    # The source misses 10 minutes; they are filled with 0 as in worldcup98_rpm.csv.
                    {"format": "minute-csv", "resample": "hold", "gaps": "zero"},
                    url=(
                        "https://raw.githubusercontent.com/nimamahmoudi/worldcup98-dataset/"
                        "82460213f0d5a86fa57b6d4b0b5f260e606e713b/invocation_count.csv"
                    ),
                    sha256="d05038f98af96f6fab054f90445e02a68f37fd00a79c23f45b9b48e5ec91fb8e",
                ),
            ),
            rows=125_310,
            resolution_s=60,
            mean=10_795.7,
            max=229_426.0,
            origin=(
                "nimamahmoudi/worldcup98-dataset invocation_count.csv @82460213 (MIT); "
                "1998 World Cup Web Site Access Logs, M. Arlitt and T. Jin, "
                "Internet Traffic Archive"
            ),
            license=(
                "logs may be used and redistributed freely if the copyright and disclaimer "
                "(WORLDCUP98_NOTICE.txt) travels with them unmodified; attribution required"
            ),
            notes=(
                "Per-minute counts from 1998-04-30 21:30 GMT; each minute's count is spread evenly "
                "over its 60 seconds (rule 'hold', pass resample=linear for a smoother series); "
                "10 missing minutes are 0. Match-day peaks are flash crowds."
            ),
        ),
    )
}


def named_trace(name: str) -> NamedTrace:
    """The catalogue entry of a named trace.

    Raises:
        TraceError: Unknown name (the message lists the known ones).
    """
    try:
        return NAMED_TRACES[name]
    except KeyError:
        raise TraceError(
            f"unknown trace {name!r}; named traces: {', '.join(sorted(NAMED_TRACES))}; other "
            "forms: synthetic:<pattern>?..., file:<path>, or a path to a file."
            + did_you_mean(name, NAMED_TRACES)
        ) from None


def cache_dir() -> Path:
    """The user cache folder for downloaded traces (may not exist yet)."""
    override = os.environ.get("THEMIS_TRACE_CACHE")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "themis-env" / "traces"


def search_dirs(trace_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Folders searched for named traces, in order."""
    dirs: list[Path] = []
    if trace_dir:
        dirs.append(Path(trace_dir).expanduser())
    for part in os.environ.get("THEMIS_TRACE_DIR", "").split(os.pathsep):
        if part.strip():
            dirs.append(Path(part.strip()).expanduser())
    dirs.append(cache_dir())
    return dirs


def find_trace_file(
    entry: NamedTrace, trace_dir: str | os.PathLike[str] | None = None
) -> tuple[Path, TraceFile]:
    """The first file holding ``entry`` in :func:`search_dirs`.

    Raises:
        TraceNotFound: No folder holds it; the message lists the folders and how to get it.
    """
    folders = search_dirs(trace_dir)
    for folder in folders:
        for candidate in entry.files:
            for rel in candidate.names:
                path = folder / rel
                if path.is_file():
                    return path, candidate
    raise TraceNotFound(
        f"trace {entry.name!r} is not on this machine (looked in {_describe(folders)}). "
        + entry.how_to_obtain()
    )


def _describe(folders: Iterable[Path]) -> str:
    return ", ".join(str(f) for f in folders)


def trace_file_names() -> list[str]:
    """Every file name the catalogue looks for (used by the docs and tests)."""
    return [rel for t in NAMED_TRACES.values() for f in t.files for rel in f.names]


# Validate the table at import: a typo here would make a trace unfindable.
for _t in NAMED_TRACES.values():
    if sum(f.url is not None for f in _t.files) != 1:  # pragma: no cover
        raise TraceError(f"catalogue entry {_t.name!r} must have exactly one original file")
