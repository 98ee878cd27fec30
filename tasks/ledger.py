"""Per-recording ledger of rendered clips: what makes reruns skip finished work.

`<output>/.savgbench/ledger/<recording_id>.json` records, for one key, which clips were written and which were
rejected (and why). The key is a digest of the recording's input files (sha256 of audio, video and annotations),
its split, and every recipe value that changes a clip's content; the views and the selection thresholds are left
out, so changing only the view angles re-renders only clips of new views, and so is `audio_outputs` (which audio
files a clip has, not what they hold): adding "foa" keeps the key, and the clips the ledger lists as written but
whose FOA file is missing get only that file (`tasks.curate_recording.render_recording_task`). The ledger lives
beside the outputs it describes (not in a Prefect result store on one machine), so any worker that sees the output
folder can reuse it, and deleting the outputs invalidates it. A clip counts as done only while its files exist
(three, four with its FOA).

Rejects are remembered with the stage that made them: "render" (e.g. clipped) or "verify" (visual verification,
`tasks.verify.verify_part`). A verify reject also depends on the verification settings, so the ledger keeps
their digest (`verify_key`) too: loaded under another verify key, the ledger forgets its verify rejects, and those
clips are rendered and verified again.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from curation.render import RENDER_VERSION
from data_contracts._atomic import STATE_DIR, write_text_atomic
from data_contracts.manifests import RecordingRow
from data_contracts.recipe import Recipe

# Recipe keys that only choose which clips exist, not what a clip contains: changing a selection policy renders
# only the clips it adds.
SELECTION_ONLY_KEYS = ("view_azimuths_deg", "view_elevations_deg", "min_onscreen_frames", "max_views_per_window",
                       "split_rules", "min_view_separation_deg", "min_clip_gap_frames", "max_clips_per_source_hour",
                       "class_balance", "fill_max_near_duplicates", "sampling", "sample_clips", "sample_seed",
                       "sample_view_step_deg")
# Recipe keys that choose which of a clip's files are written and where, not what any file holds.
OUTPUT_ONLY_KEYS = ("audio_outputs", "layout")
# Recipe keys (by prefix) of the verification stage: they decide which rendered clips verification rejects.
VERIFY_KEY_PREFIXES = ("verify", "detector", "min_visual")
LEDGER_DIR = STATE_DIR / "ledger"
RENDER_STAGE = "render"


def render_key(row: RecordingRow, recipe: Recipe) -> str:
    """Digest of everything a rendered clip of this recording depends on. The recipe's keys that came after this
    key did are left out at their defaults (`Recipe.hashed_dict`), so earlier ledgers stay valid."""
    content_recipe = {k: v for k, v in recipe.hashed_dict().items()
                      if k not in SELECTION_ONLY_KEYS + OUTPUT_ONLY_KEYS and not k.startswith(VERIFY_KEY_PREFIXES)}
    payload = {
        "render_version": RENDER_VERSION,
        "recording_id": row.recording_id,
        "split": row.split,
        "inputs": [row.audio_sha256, row.video_sha256, row.metadata_sha256],
        "recipe": content_recipe,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def verify_key(recipe: Recipe) -> str:
    """Digest of the verification settings: every recipe key starting with one of `VERIFY_KEY_PREFIXES`."""
    settings = {k: v for k, v in recipe.to_dict().items() if k.startswith(VERIFY_KEY_PREFIXES)}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]


@dataclass
class Ledger:
    """Clip statuses for one recording under one render key (and one verify key for its verify rejects)."""

    path: Path
    key: str
    verify_key: str | None = None
    # clip_id → {"status": "written"} or {"status": "rejected", "stage": "render"|"verify", "reason", "detail"}
    clips: dict[str, dict] = field(default_factory=dict)
    _unsaved: int = 0
    _saved_at: float = field(default_factory=time.monotonic)

    @classmethod
    def load(cls, output_dir: Path, recording_id: str, key: str, verify_key: str | None = None) -> "Ledger":
        """The ledger for this key; an absent, unreadable or other-key ledger starts empty. Its verify rejects are
        kept only when they were made under `verify_key`."""
        path = output_dir / LEDGER_DIR / f"{recording_id}.json"
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls(path, key, verify_key)
        if not isinstance(stored, dict) or stored.get("key") != key:
            return cls(path, key, verify_key)
        clips = dict(stored.get("clips", {}))
        if stored.get("verify_key") != verify_key:
            clips = {clip_id: entry for clip_id, entry in clips.items() if entry_stage(entry) != "verify"}
        return cls(path, key, verify_key, clips)

    def done(self, clip_id: str, paths: list[Path]) -> bool:
        """Whether the clip needs no rendering: rejected before, or written and all its files still there."""
        entry = self.clips.get(clip_id)
        if entry is None:
            return False
        return entry["status"] == "rejected" or all(p.is_file() for p in paths)

    def record(self, clip_id: str, reason: str | None = None, detail: str | None = None, *,
               stage: str = RENDER_STAGE) -> None:
        """Note a clip as written (no reason) or rejected by `stage`; saved every 50 clips or 15 s so a kill loses
        little."""
        self.clips[clip_id] = {"status": "written"} if reason is None else {
            "status": "rejected", "stage": stage, "reason": reason, "detail": detail}
        self._unsaved += 1
        if self._unsaved >= 50 or time.monotonic() - self._saved_at > 15:
            self.save()

    def save(self) -> None:
        """Write the ledger (atomically: a reader or a kill sees the previous ledger or this one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, json.dumps({"key": self.key, "verify_key": self.verify_key,
                                                 "clips": dict(sorted(self.clips.items()))}, indent=0))
        self._unsaved = 0
        self._saved_at = time.monotonic()


def entry_stage(entry: dict) -> str:
    """The stage that rejected a ledger entry's clip; "render" for entries of ledgers written before stages."""
    return entry.get("stage", RENDER_STAGE)
