"""Atomic file writes: every output is written under a partial name beside it, then renamed into place.

One naming rule for every writer: ``dir/name.ext`` is written as ``dir/.name.partial.ext``. The partial name is
hidden, so globs and source discovery skip it, and it keeps the suffix, because writers such as PyAV, soundfile
and pyarrow pick the format from the extension. It lives in the destination folder because ``os.replace`` is
atomic only within one filesystem. Readers therefore see the old file or the new one, never half of one.

`atomic_path` writes one file; `StagedFiles` writes several and renames them in a chosen order. `Release`
publishes a set of files that must be seen together (the manifests and the split lists) as one new release folder
and one symlink switch. Files are created with the mode of any new file (0666 less the umask: 0644 under the usual
umask 022), like every other output.
"""

from __future__ import annotations

import os
import secrets
import shutil
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
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


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush a written file's data to the disk (the step that makes a later rename durable)."""
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
                        fsync_file(partial)
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


# The published folders of an output folder, each a symlink into the current release.
PUBLISHED_DIRS = ("manifests", "splits")
STATE_DIR = Path(".savgbench")
RELEASES_DIR = STATE_DIR / "releases"
CURRENT_LINK = STATE_DIR / "current"


def new_release_id() -> str:
    """A release folder name: its UTC creation time to the microsecond, then 6 random hex digits, e.g.
    ``20261130T050000123456Z-3fa2c1``; names sort by time, and the suffix tells apart two of one microsecond."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"


def current_release(output_dir: str | os.PathLike[str]) -> str | None:
    """The id of the release ``output_dir/.savgbench/current`` points to; None without one (nothing published
    yet, or a folder of the layout before releases)."""
    link = Path(output_dir) / CURRENT_LINK
    if not link.is_symlink():
        return None
    return PurePosixPath(os.readlink(link)).name


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _replace_with_symlink(path: Path, target: str) -> None:
    """Make ``path`` a symlink to ``target`` (relative to ``path``'s folder) in one rename. A real folder or file
    in the way (an output of the layout before releases, or a copy that followed the links) is renamed aside and
    deleted: between the two renames ``path`` is briefly missing."""
    temporary = partial_path(path)
    temporary.unlink(missing_ok=True)  # left by a publish killed here
    if not (path.is_symlink() and os.readlink(path) == target):
        os.symlink(target, temporary)
        if path.exists() and not path.is_symlink():
            os.rename(path, path.with_name(f".{path.name}.replaced-{secrets.token_hex(3)}"))
        os.replace(temporary, path)
    for aside in path.parent.glob(f".{path.name}.replaced-*"):  # this one's, or a killed publish's
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside)
        else:
            aside.unlink()


class Release:
    """A new set of published files (``manifests/*``, ``splits/*``) for an output folder, seen by readers all at
    once: written into a new release folder, then switched to in one atomic step.

    Layout: ``OUT/.savgbench/releases/<release_id>/{manifests,splits}/`` hold each release;
    ``OUT/.savgbench/current`` is a symlink to ``releases/<release_id>``; ``OUT/manifests`` and ``OUT/splits`` are
    symlinks to ``.savgbench/current/manifests`` and ``.savgbench/current/splits``. Every link is relative, so a
    moved or copied output folder still works, and readers keep reading ``OUT/manifests/clips.parquet``.

    Use as a context manager; `stage(relpath)` (e.g. ``"manifests/clips.parquet"``) returns where to write that
    file in the new release. On a clean exit every staged file must exist (else nothing is published); with
    ``carry_over`` the current release's files that were not staged are carried into the new one (hard links,
    copies where links fail); the files are (optionally) fsynced, the release folder (written under a hidden partial
    name) is renamed to its id, and ``current`` is replaced by a symlink to it. An output folder of the layout
    before releases (real ``manifests/`` and ``splits/`` folders) is converted then: its folders are replaced by
    the symlinks. The release that was current before is kept, so a reader that resolved it can finish; older
    ones are deleted. On an exception the new release is deleted and the current one is left as it was.

    A published file is never changed in place (a carried-over file is the previous release's too). Two publishes
    on one output folder must not overlap: the caller holds the folder's run lock (`tasks.run_lock.OutputLock`).
    """

    def __init__(self, output_dir: str | os.PathLike[str], *, carry_over: bool = False, fsync: bool = True):
        self.output_dir = Path(output_dir)
        self.release_id = new_release_id()
        self._carry_over = carry_over
        self._fsync = fsync
        self._folder = self.output_dir / RELEASES_DIR / self.release_id
        self._staging = partial_path(self._folder)
        self._staged: set[PurePosixPath] = set()

    def stage(self, relpath: str) -> Path:
        """The path to write the published file ``relpath`` (under one of `PUBLISHED_DIRS`) to in the new
        release; after the switch it is read as ``output_dir / relpath``."""
        rel = PurePosixPath(relpath)
        if rel.is_absolute() or ".." in rel.parts or len(rel.parts) < 2 or rel.parts[0] not in PUBLISHED_DIRS:
            raise ValueError(f"{relpath}: not a file under {' or '.join(PUBLISHED_DIRS)}/")
        if rel in self._staged:
            raise ValueError(f"{self.output_dir / rel}: staged twice")
        self._staged.add(rel)
        path = self._staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def __enter__(self) -> Release:
        self._staging.mkdir(parents=True)
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            return
        try:
            self._complete()
        except BaseException:
            shutil.rmtree(self._staging, ignore_errors=True)
            raise
        self._switch()

    def _complete(self) -> None:
        for rel in sorted(self._staged):
            if not (self._staging / rel).is_file():
                raise FileNotFoundError(f"{self.output_dir / rel}: staged but never written")
        if self._carry_over:
            for top in PUBLISHED_DIRS:
                source = self.output_dir / top
                for path in sorted(source.rglob("*")) if source.is_dir() else ():
                    rel = PurePosixPath(top, *path.relative_to(source).parts)
                    if path.is_file() and not is_partial(path) and rel not in self._staged:
                        (self._staging / rel).parent.mkdir(parents=True, exist_ok=True)
                        try:
                            os.link(path, self._staging / rel)
                        except OSError:
                            shutil.copy2(path, self._staging / rel)
        for top in PUBLISHED_DIRS:
            (self._staging / top).mkdir(exist_ok=True)
        if self._fsync:
            paths = sorted(self._staging.rglob("*"))
            for path in paths:
                if path.is_file():
                    fsync_file(path)
            for folder in [self._staging, *(p for p in paths if p.is_dir())]:
                _fsync_dir(folder)
        os.rename(self._staging, self._folder)
        if self._fsync:
            _fsync_dir(self._folder.parent)

    def _switch(self) -> None:
        previous = current_release(self.output_dir)
        _replace_with_symlink(self.output_dir / CURRENT_LINK, f"{RELEASES_DIR.name}/{self.release_id}")
        for top in PUBLISHED_DIRS:
            _replace_with_symlink(self.output_dir / top, f"{CURRENT_LINK.as_posix()}/{top}")
        if self._fsync:
            _fsync_dir(self.output_dir / STATE_DIR)
            _fsync_dir(self.output_dir)
        # The previous release stays for readers that resolved it before the switch; older ones, and release
        # folders of publishes that never finished, go.
        for entry in sorted((self.output_dir / RELEASES_DIR).iterdir()):
            if entry.name not in (self.release_id, previous):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
