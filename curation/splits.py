"""Splits are assigned per recording from its source folder, never per clip, so no recording feeds two splits."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Mapping, Sequence

__all__ = ["assign_split"]


def assign_split(source_folder: str, split_rules: Mapping[str, Sequence[str]]) -> str | None:
    """The split whose glob patterns match `source_folder` (e.g. "dev-train-sony" → "generation").

    Returns None when no rule matches. A folder matched by two splits' rules is an error: the rules are ambiguous
    and silently picking one could leak a recording into both.
    """
    matches = [split for split, patterns in split_rules.items() if any(fnmatchcase(source_folder, p) for p in patterns)]
    if len(matches) > 1:
        raise ValueError(f"source folder {source_folder!r} matches the rules of several splits: {matches}")
    return matches[0] if matches else None
