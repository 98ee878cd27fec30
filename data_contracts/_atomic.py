"""Atomic file writes: every output is written under a partial name beside it, then renamed into place.

One naming rule for every writer: ``dir/name.ext`` is written as ``dir/.name.partial.ext``. The partial name is
hidden, so globs and source discovery skip it, and it keeps the suffix, because writers such as PyAV, soundfile
and pyarrow pick the format from the extension. It lives in the destination folder because ``os.replace`` is
atomic only within one filesystem. Readers therefore see the old file or the new one, never half of one.

`atomic_path` writes one file; `StagedFiles` writes several and renames them in a chosen order (the split lists,
then the manifests, whose presence means every file they list is complete). Files are created with the mode of
any new file (0666 less the umask: 0644 under the usual umask 022), like every other output.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PARTIAL_MARK = ".partial"


def partial_path(path: str | os.PathLike[str]) -> Path:
    """The name ``path`` is written under before it is renamed into place: ``.{stem}.partial{suffix}`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.stem}{PARTIAL_MARK}{path.suffix}")


def final_path_of_partial(path: str | os.PathLike[str]) -> Path | None:
    """The destination a partial name (as `partial_path` makes it) stands for; None when ``path`` is not one."""
    path = Path(path)
    if not path.name.startswith("."):
        return None
    stem, mark, suffix = path.name[1:].rpartition(PARTIAL_MARK)
    if not mark or not stem:
        return None
    final = path.with_name(stem + suffix)
    # Only a name the rule makes: not e.g. ".a.mp4.partial", whose mark is not before the suffix.
    return final if partial_path(final) == path else None


def is_partial(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is named as a file being written (or left by an interrupted write)."""
    return final_path_of_partial(path) is not None


def _fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class StagedFiles:
    """Several files written under their partial names, renamed into place together on a clean exit.

    Use as a context manager; `stage(destination)` returns the path to write ``destination``'s content to. On a
    clean exit every staged file must exist (else nothing is renamed), is (optionally) fsynced, and all are renamed
    in the order they were staged, so the last one staged appears only once all the others are in place. On an
    exception nothing is renamed and every partial file is deleted: the destinations keep their previous content.

    ``fsync=True`` makes the content durable before the rename, so a power loss cannot leave a complete-looking
    name over missing data; worth it for files written once per run (manifests, split lists, ledgers, summaries,
    synthetic sources), not for the thousands of clip files a recording gives (see curation/render.py).
    """

    def __init__(self, *, fsync: bool = True):
        self._fsync = fsync
        self._partials: dict[Path, Path] = {}

    def stage(self, destination: str | os.PathLike[str]) -> Path:
        """The partial path to write ``destination`` to; it is renamed into place after those staged before it."""
        destination = Path(destination)
        if destination in self._partials:
            raise ValueError(f"{destination}: staged twice")
        partial = partial_path(destination)
        self._partials[destination] = partial
        return partial

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                for destination, partial in self._partials.items():
                    if not partial.is_file():
                        raise FileNotFoundError(f"{destination}: staged but never written ({partial.name} missing)")
                if self._fsync:
                    for partial in self._partials.values():
                        _fsync_file(partial)
                for destination, partial in self._partials.items():
                    os.replace(partial, destination)
        finally:
            # After a clean commit the partials are gone already; otherwise none is left behind.
            for partial in self._partials.values():
                partial.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, fsync: bool = True) -> Iterator[Path]:
    """Yield the partial path to write ``path`` to; on a clean exit it replaces ``path``, on an exception it is
    deleted and ``path`` is left as it was. A `StagedFiles` of one file."""
    with StagedFiles(fsync=fsync) as staged:
        yield staged.stage(path)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, fsync: bool = True) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    with atomic_path(path, fsync=fsync) as partial:
        partial.write_text(text, encoding="utf-8", newline="\n")


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, fsync=fsync) as partial:
        partial.write_bytes(data)
