"""Per-recording ledger of rendered clips: what makes reruns skip finished work.

`<output>/.savgbench/ledger/<recording_id>.json` records, for one key, which clips were written and which were
rejected (and why). The key is a digest of the recording's input files (sha256 of audio, video and annotations),
its split, and every recipe value that changes a clip's content; the views and the selection thresholds are left
out, so changing only the view angles re-renders only clips of new views. The ledger lives beside the outputs it
describes (not in a Prefect result store on one machine), so any worker that sees the output folder can reuse it,
and deleting the outputs invalidates it. A clip counts as done only while its three files exist.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from curation.render import RENDER_VERSION
from data_contracts._atomic import write_text_atomic
from data_contracts.manifests import RecordingRow
from data_contracts.recipe import Recipe

# Recipe keys that only choose which clips exist, not what a clip contains.
SELECTION_ONLY_KEYS = ("view_azimuths_deg", "view_elevations_deg", "min_onscreen_frames", "max_views_per_window",
                       "split_rules")
LEDGER_DIR = Path(".savgbench") / "ledger"


def render_key(row: RecordingRow, recipe: Recipe) -> str:
    """Digest of everything a rendered clip of this recording depends on."""
    content_recipe = {k: v for k, v in recipe.to_dict().items()
                      if k not in SELECTION_ONLY_KEYS and not k.startswith(("verify", "detector", "min_visual"))}
    payload = {
        "render_version": RENDER_VERSION,
        "recording_id": row.recording_id,
        "split": row.split,
        "inputs": [row.audio_sha256, row.video_sha256, row.metadata_sha256],
        "recipe": content_recipe,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


@dataclass
class Ledger:
    """Clip statuses for one recording under one render key."""

    path: Path
    key: str
    clips: dict[str, dict] = field(default_factory=dict)  # clip_id → {"status": "written"|"rejected", ...}
    _unsaved: int = 0
    _saved_at: float = field(default_factory=time.monotonic)

    @classmethod
    def load(cls, output_dir: Path, recording_id: str, key: str) -> "Ledger":
        """The ledger for this key; an absent, unreadable or other-key ledger starts empty."""
        path = output_dir / LEDGER_DIR / f"{recording_id}.json"
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls(path, key)
        if stored.get("key") != key:
            return cls(path, key)
        return cls(path, key, dict(stored.get("clips", {})))

    def done(self, clip_id: str, paths: list[Path]) -> bool:
        """Whether the clip needs no rendering: rejected before, or written and all its files still there."""
        entry = self.clips.get(clip_id)
        if entry is None:
            return False
        return entry["status"] == "rejected" or all(p.is_file() for p in paths)

    def record(self, clip_id: str, reason: str | None = None, detail: str | None = None) -> None:
        """Note a clip as written (no reason) or rejected; saved every 50 clips or 15 s so a kill loses little."""
        self.clips[clip_id] = {"status": "written"} if reason is None else {
            "status": "rejected", "reason": reason, "detail": detail}
        self._unsaved += 1
        if self._unsaved >= 50 or time.monotonic() - self._saved_at > 15:
            self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, json.dumps({"key": self.key, "clips": dict(sorted(self.clips.items()))},
                                                indent=0))
        self._unsaved = 0
        self._saved_at = time.monotonic()
