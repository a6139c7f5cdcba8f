"""The text of a trace file (plain, ``.gz``, ``.bz2`` or a tar member), read under a size limit.

Compressed data is decompressed as a stream, in chunks, and reading stops with a
:class:`~themis_env.errors.TraceError` as soon as the text passes the limit: a small archive
that expands to gigabytes fails in a second with a message saying so, instead of filling the
memory first. A tar member whose header declares a size above the limit is refused before any
of its data is decompressed.
"""

from __future__ import annotations

import bz2
import gzip
import tarfile
import zlib
from pathlib import Path
from typing import IO

from themis_env.errors import TraceError, TraceNotFound

__all__ = ["ARCHIVE_SUFFIXES", "DEFAULT_MAX_MB", "read_text"]

ARCHIVE_SUFFIXES = (".tbz2", ".tar.bz2", ".tbz", ".tar.gz", ".tgz", ".tar")
# The text is parsed in memory (several times its size); the largest named trace is 10 MB.
DEFAULT_MAX_MB = 256.0
_CHUNK = 1 << 20


def _too_large(name: str, max_mb: float, size: int | None = None) -> TraceError:
    what = f"is {size / 1e6:,.0f} MB" if size is not None else f"is more than {max_mb:g} MB"
    return TraceError(
        f"{name}: the text {what}, above the limit of max_mb={max_mb:g} MB for one trace "
        "file (it is read whole into memory); pass max_mb=<MB> to raise the limit"
    )


def _read_limited(stream: IO[bytes], limit: int, name: str, max_mb: float) -> bytearray:
    data = bytearray()
    while chunk := stream.read(_CHUNK):
        data += chunk
        if len(data) > limit:
            raise _too_large(name, max_mb)
    return data


def _tar_member(
    tf: tarfile.TarFile, name: str, member: str | None, limit: int, max_mb: float
) -> tarfile.TarInfo:
    """The member to read; iterating lazily reads each header before its data."""
    files = []
    for info in tf:
        if not info.isfile():
            continue
        if info.size > limit and (member is None or info.name == member):
            raise _too_large(f"{name}:{info.name}", max_mb, info.size)
        files.append(info)
    if member is None:
        if len(files) != 1:
            raise TraceError(
                f"{name}: archive holds {len(files)} files "
                f"({', '.join(m.name for m in files[:5])}); pass member=<name>"
            )
        return files[0]
    found = [m for m in files if m.name == member]
    if not found:
        raise TraceError(
            f"{name}: archive has no member {member!r}; it holds "
            f"{', '.join(m.name for m in files[:10])}"
        )
    return found[0]


def read_text(path: Path, member: str | None, max_mb: float) -> tuple[str, str]:
    """The file's text and a display name (``archive.tbz2:member`` for archive members).

    Args:
        path: A plain, ``.gz``/``.bz2`` or tar file.
        member: The tar member to read (None: the archive must hold exactly one file).
        max_mb: Largest text accepted, in MB (10^6 bytes) after decompression.

    Raises:
        TraceNotFound: The file does not exist.
        TraceError: It cannot be read, is not UTF-8, or its text is above ``max_mb``.
    """
    name = str(path)
    lower = path.name.lower()
    limit = int(max_mb * 1e6)
    raw: bytes | bytearray
    try:
        if lower.endswith(ARCHIVE_SUFFIXES):
            with tarfile.open(path) as tf:
                chosen = _tar_member(tf, name, member, limit, max_mb)
                handle = tf.extractfile(chosen)
                assert handle is not None  # regular files always have a handle
                name = f"{name}:{chosen.name}"
                raw = _read_limited(handle, limit, name, max_mb)
        elif lower.endswith((".bz2", ".gz")):
            opener = bz2.open if lower.endswith(".bz2") else gzip.open
            with opener(path, "rb") as stream:
                raw = _read_limited(stream, limit, name, max_mb)
        else:
            size = path.stat().st_size
            if size > limit:
                raise _too_large(name, max_mb, size)
            raw = path.read_bytes()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise TraceNotFound(f"trace file {name} does not exist") from None
        raise TraceError(f"{name}: cannot read the file ({exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TraceError(f"{name}: not a UTF-8 text file ({exc})") from None
    return text, name
