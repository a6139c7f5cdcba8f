"""Put a named trace into the user cache: download it, or install a file the user already has.

Downloads are checked against the catalogue's SHA-256 and written atomically, so a broken
or partial download never ends up in the cache. Without a network the error explains how to
obtain the file by hand and install it with ``--from FILE``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from themis_env.errors import TraceError
from themis_env.traces.catalog import NamedTrace, TraceFile, cache_dir, named_trace
from themis_env.traces.loaders import read_trace_file

__all__ = ["fetch", "install_file", "sha256_of", "download"]

_CHUNK = 1 << 20


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def download(url: str, dest: Path, sha256: str, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` if its SHA-256 is ``sha256``.

    Raises:
        TraceError: The download failed or the checksum does not match (``dest`` is untouched).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for block in iter(lambda: resp.read(_CHUNK), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256:
            raise TraceError(
                f"download of {url} has sha256 {digest.hexdigest()}, expected {sha256}; "
                "the file was not installed"
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as exc:
        raise TraceError(f"could not download {url} ({exc})") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def _matches_published_stats(entry: NamedTrace, path: Path, tfile: TraceFile) -> str | None:
    """None when the file holds the trace (row count, mean and max as published), else why not."""
    try:
        trace = read_trace_file(path, **dict(tfile.loader))
    except TraceError as exc:
        return str(exc)
    rows = int(trace.metadata.get("buckets", len(trace)))
    values = trace.rps * entry.resolution_s
    mean = float(values.mean())
    digits = max(0, len(str(entry.mean).split(".")[1]) if "." in str(entry.mean) else 0)
    if rows != entry.rows or round(mean, digits) != entry.mean or float(values.max()) != entry.max:
        return (
            f"it has {rows} rows, mean {mean:.4g}, max {float(values.max()):g}; {entry.name} has "
            f"{entry.rows} rows, mean {entry.mean:g}, max {entry.max:g}"
        )
    return None


def install_file(
    name: str, source: str | os.PathLike[str], *, dest_dir: Path | None = None
) -> Path:
    """Copy a file the user already has into the cache, after checking it.

    The published original is recognised by its SHA-256; the team's per-second CSV (which has
    no published checksum) by its row count, mean and maximum.

    Raises:
        TraceError: The file is neither.
    """
    entry = named_trace(name)
    src = Path(source).expanduser()
    if src.is_dir():
        raise TraceError(f"--from {str(src)!r} is a folder; give the trace file inside it")
    if not src.is_file():
        raise TraceError(f"--from {str(src)!r}: no such file")
    folder = dest_dir or cache_dir()
    original = entry.original
    digest = sha256_of(src)
    if digest == original.sha256:
        dest = folder / original.filename
        _atomic_copy(src, dest)
        return dest
    reasons = [f"its sha256 {digest} is not the original's {original.sha256}"]
    for tfile in entry.files:
        if tfile.url is not None:
            continue
        why = _matches_published_stats(entry, src, tfile)
        if why is None:
            dest = folder / tfile.filename
            _atomic_copy(src, dest)
            return dest
        reasons.append(f"as {tfile.filename}: {why}")
    raise TraceError(f"{src} is not the {name} trace: " + "; ".join(reasons))


def fetch(
    name: str,
    *,
    source: str | os.PathLike[str] | None = None,
    dest_dir: Path | None = None,
    timeout: float = 60.0,
) -> Path:
    """Make the named trace available in the cache and return the installed file.

    Args:
        name: A named trace (``twitter-2021-08``, ``nasa-1995``, ``worldcup-1998``).
        source: A local copy to install instead of downloading.
        dest_dir: Target folder (default :func:`~themis_env.traces.catalog.cache_dir`).
        timeout: Network timeout [s].

    Raises:
        TraceError: The download failed (the message says how to obtain the file) or the
            file is not the trace.
    """
    entry = named_trace(name)
    if source is not None:
        return install_file(name, source, dest_dir=dest_dir)
    original = entry.original
    assert original.url is not None and original.sha256 is not None
    dest = (dest_dir or cache_dir()) / original.filename
    if dest.is_file() and sha256_of(dest) == original.sha256:
        return dest
    try:
        return download(original.url, dest, original.sha256, timeout=timeout)
    except TraceError as exc:
        raise TraceError(
            f"{exc}. Without network access: download {original.url} on another machine "
            f"(sha256 {original.sha256}) and run `themis-env traces fetch {name} --from FILE`, "
            f"or point --trace-dir / THEMIS_TRACE_DIR at a folder holding "
            f"{' or '.join(repr(n) for f in entry.files for n in f.names[:1])}."
        ) from None
