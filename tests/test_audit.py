"""The audit on a freshly curated synthetic set: the page in a real headless browser, the funnel per split and
target class of summary.md and the near-duplicates on it (and a page for an output without that funnel),
contact-sheet markers on the synthetic people, detection boxes when the verification stage ran, the manifests'
dtypes, and the cookbook's snippets (docs/audit.md) run as written."""

import contextlib
import io
import math
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from prefect import flow
from prefect.artifacts import Artifact
from prefect.runtime import flow_run

from curation.audit.page import DETECTION_COLOUR, GROUP_COLOURS, ClipVideo, read_manifests, world_directions
from curation.geometry import angles_to_unit
from curation.media import iter_video_frames
from curation.selection import near_duplicate_counts
from curation.perspective import perspective_map, render_view
from curation.synthetic.generator import SynthConfig, room_background, write_synthetic_dataset
from data_contracts.annotations import read_annotations
from data_contracts.recipe import load_recipe
from flows.cli import main
from tasks.audit import audit
from tasks.report import FUNNEL_TITLE
from tests.helpers import ARTIFACTS, PROJECT_ROOT, VIEWS_EVERY_30_DEG

pytestmark = pytest.mark.slow

COOKBOOK = PROJECT_ROOT / "docs" / "audit.md"
# One recording in each synthetic folder: both splits get clips.
SYNTH = SynthConfig(n_recordings=3, duration_s=6.0, seed=3, width_px=960, height_px=480, fps=Fraction(20))
TOP_BAR_PX = 56
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@flow(name="curate-then-audit")
def curate_then_audit(source_dir: str, output_dir: str):
    """What the curate flow does at its end: curate, then audit. Returns the page, the artifact and the run id."""
    from flows.curate import curate

    curate(source_dir, output_dir, overrides=[VIEWS_EVERY_30_DEG])
    html_path = audit(output_dir)
    return html_path, Artifact.get("curate-audit"), flow_run.id


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    source = tmp_path_factory.mktemp("audit-source")
    write_synthetic_dataset(source, SYNTH)
    # A recording with audio and labels but no video, as STARSS23 has twelve: the page must list its reject.
    for modality, suffix in (("foa_dev", "wav"), ("metadata_dev", "csv")):
        folder = source / modality / "dev-train-synth"
        shutil.copy(folder / f"fold3_room90_mix001.{suffix}", folder / f"fold3_room90_mix002.{suffix}")
    out = tmp_path_factory.mktemp("audit-out")
    html_path, artifact, run_id = curate_then_audit(str(source), str(out))
    return source, out, Path(html_path), artifact, run_id


class _PageParser(HTMLParser):
    """Collects <img> and <area> attributes, the body rows of each table (by id) and each table's cell texts
    (header row first)."""

    def __init__(self):
        super().__init__()
        self.images, self.areas, self.table_rows, self.table_cells = [], [], {}, {}
        self._table, self._in_body, self._cell = None, False, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        elif tag == "area":
            self.areas.append(attrs)
        elif tag == "table":
            self._table = attrs.get("id")
            self.table_rows[self._table] = 0
            self.table_cells[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._table is not None:
            self.table_cells[self._table].append([])
            if self._in_body:
                self.table_rows[self._table] += 1
        elif tag in ("td", "th") and self._table is not None:
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None:
            self.table_cells[self._table][-1].append(self._cell)
            self._cell = None


def parse_page(text: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(text)
    return parser


def test_the_run_links_the_page_and_the_page_links_only_files_that_exist(curated):
    _, out, html_path, artifact, run_id = curated
    assert html_path == out / "report" / "index.html"
    assert artifact is not None and str(artifact.flow_run_id) == run_id
    assert str(html_path) in artifact.data and "speech : instrument" in artifact.data
    page = parse_page(html_path.read_text())
    # funnel per split and class, near-duplicates, positions, clips per view, clips per recording, two contact
    # sheets, three recordings with clips
    assert len(page.images) == 10
    for image in page.images:
        assert (html_path.parent / image["src"]).is_file(), image["src"]
    assert not re.search(r"(src|href)=\"(https?:)?//", html_path.read_text()), "the page must not need the network"


def chromium_exe() -> str:
    """`chromium` from PATH, installed with apt (Debian package `chromium`) when missing."""
    found = shutil.which("chromium")
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and apt-get is not available to install it (Debian: chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command, timeout_s in ((["apt-get", "update"], 300), (["apt-get", "install", "-y", "chromium"], 900)):
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr[-2000:]}"
    return shutil.which("chromium")


def run_chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="savgbench-chromium-") as profile:
        return subprocess.run([chromium_exe(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120)


def test_page_renders_in_headless_chromium_with_every_image_loaded(curated):
    _, _, html_path, _, _ = curated
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "audit_report.png"
    # One launch: the DOM after the load event, and a screenshot of a window taller than the page.
    browser = run_chromium("--hide-scrollbars", "--window-size=1280,9000", f"--screenshot={screenshot}",
                           "--dump-dom", html_path.as_uri())
    assert browser.returncode == 0 and screenshot.is_file(), browser.stderr[-2000:]
    page = parse_page(browser.stdout)
    assert len(page.images) == 10
    # The page's own script marks each image once loaded (naturalWidth > 0).
    not_loaded = [image["src"] for image in page.images if image.get("data-loaded") != "true"]
    assert not not_loaded, f"images that did not load: {not_loaded}"
    assert page.table_rows["table-funnel"] >= 5
    assert page.table_rows["table-balance"] == 3
    assert page.table_rows["table-rejects"] == 1
    assert page.table_rows["table-class-funnel"] == 8
    assert page.table_rows["table-near-duplicates"] == 3
    # Cut the empty background below the page.
    image = np.asarray(Image.open(screenshot).convert("RGB"))
    used = np.flatnonzero((image != image[-1, 0]).any(axis=(1, 2)))
    assert used[-1] > 3000, "the page should be several screens long"
    Image.fromarray(image[: used[-1] + 20]).save(screenshot)


def summary_class_funnel_cells(summary: Path) -> list[list[str]]:
    """The cells of summary.md's funnel per split and target class as written: header row, then one row per stage."""
    lines = summary.read_text().split(FUNNEL_TITLE, 1)[1].splitlines()
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines
            if line.startswith("|") and not line.startswith("| ---")]


def test_page_shows_the_class_funnel_of_the_summary_and_the_near_duplicates_of_the_clips(curated):
    _, out, html_path, artifact, _ = curated
    page = parse_page(html_path.read_text())
    expected = summary_class_funnel_cells(out / "report" / "summary.md")
    assert [row[0] for row in expected] == ["stage", "candidates", "qualifying", "after view separation",
                                            "after clip gap", "after class balance", "after budget", "rendered",
                                            "kept"]
    assert page.table_cells["table-class-funnel"] == expected
    assert "audit/class_funnel.png" in {image["src"] for image in page.images}
    # The near-duplicate figure of the issue, computed here from the recipe's window, not the clips' durations.
    recipe = load_recipe("release")
    clips = pq.read_table(out / "manifests" / "clips.parquet", columns=[
        "split", "recording_id", "start_frame", "view_azimuth_deg", "view_elevation_deg"]).to_pandas()
    counts = near_duplicate_counts(clips["recording_id"], clips["start_frame"], clips["view_azimuth_deg"],
                                   clips["view_elevation_deg"], recipe.window_frames, recipe.h_fov_deg)
    table = {row[0]: row for row in page.table_cells["table-near-duplicates"]}
    assert table["split"] == ["split", "clips", "mean near-duplicates", "clips with none", "most"]
    for split in ("generation", "evaluation"):
        in_split = counts[(clips["split"] == split).to_numpy()]
        assert table[split][1:3] == [str(in_split.size), f"{in_split.mean():.2f}"]
    assert table["all"][1:3] == [str(len(clips)), f"{counts.mean():.2f}"]
    assert f"near-duplicates per clip <b>{counts.mean():.2f}</b>" in html_path.read_text()
    # The run's artifact shows the same table.
    assert f"| all | {len(clips)} | {counts.mean():.2f} |" in artifact.data
    assert "audit/near_duplicates.png" in {image["src"] for image in page.images}


def test_cli_audit_draws_the_same_funnel_and_says_so_when_the_summary_has_none(curated, tmp_path):
    _, out, html_path, _, _ = curated
    copy = tmp_path / "copy"
    copy.mkdir()
    for entry in out.iterdir():
        if entry.name != "report":
            (copy / entry.name).symlink_to(entry)
    (copy / "report").mkdir()
    summary = (out / "report" / "summary.md").read_text()
    (copy / "report" / "summary.md").write_text(summary)
    assert main(["audit", str(copy)]) == 0
    task_page, cli_page = parse_page(html_path.read_text()), parse_page((copy / "report" / "index.html").read_text())
    assert cli_page.table_cells["table-class-funnel"] == task_page.table_cells["table-class-funnel"]
    assert cli_page.table_cells["table-near-duplicates"] == task_page.table_cells["table-near-duplicates"]
    # An output written before the funnel per split and target class: its summary.md ends before that table.
    (copy / "report" / "summary.md").write_text(summary.split(FUNNEL_TITLE, 1)[0])
    assert main(["audit", str(copy)]) == 0
    text = (copy / "report" / "index.html").read_text()
    page = parse_page(text)
    assert "table-class-funnel" not in page.table_cells and 'id="no-class-funnel"' in text
    assert "has no funnel per split and target class" in text
    assert page.table_cells["table-near-duplicates"] == task_page.table_cells["table-near-duplicates"]
    assert len(page.images) == 9  # no funnel figure; every other image as before
    for image in page.images:
        assert (copy / "report" / image["src"]).is_file(), image["src"]
    # No summary.md at all: the same note.
    (copy / "report" / "summary.md").unlink()
    assert main(["audit", str(copy)]) == 0
    assert 'id="no-class-funnel"' in (copy / "report" / "index.html").read_text()


def _sheet_events(out: Path, split: str):
    """(area attributes, clip row, the clip's onscreen events at the shown label frame) for each sheet cell."""
    page = parse_page((out / "report" / "index.html").read_text())
    tables = read_manifests(out)
    clips = tables["clips"].set_index("clip_id")
    events = tables["events"]
    areas = [area for area in page.areas if clips.loc[area["data-clip-id"], "split"] == split]
    for area in areas:
        clip_id = area["data-clip-id"]
        # Video frame k (4 fps) shows label frame floor(2.5 k).
        label_frame = math.floor(2.5 * int(area["data-video-frame"]))
        assert int(area["data-label-frame"]) == label_frame
        shown = events[(events["clip_id"] == clip_id) & events["onscreen"] & (events["frame"] == label_frame)]
        yield area, clips.loc[clip_id], shown


def _hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def test_contact_sheet_markers_land_on_the_synthetic_people(curated):
    """At every marker drawn on a rendered sheet, the clip's frame shows a sprite (a real person for speech),
    not the empty room; a marker in the group's colour surrounds it (placed from the manifests, independently of
    the drawing code, so a marker drawn elsewhere fails)."""
    _, out, _, _, _ = curated
    background = room_background(SYNTH.width_px, SYNTH.height_px)
    checked = misses = people = 0
    for split in ("generation", "evaluation"):
        sheet = np.asarray(Image.open(out / "report" / "audit" / f"contact_sheet_{split}.png").convert("RGB"))
        for area, clip, shown in _sheet_events(out, split):
            x0, y0 = (int(value) for value in area["coords"].split(",")[:2])
            empty = render_view(background, perspective_map(SYNTH.width_px, SYNTH.height_px, clip.view_azimuth_deg,
                                                            clip.view_elevation_deg, clip.h_fov_deg, clip.v_fov_deg,
                                                            256, 144)).astype(int)
            content = sheet[y0 + TOP_BAR_PX : y0 + TOP_BAR_PX + 144, x0 : x0 + 256].astype(int)
            changed = np.abs(content - empty).max(axis=2) > 40
            for event in shown.itertuples():
                x, y = int(event.x_px), int(event.y_px)
                group = event.target_class if isinstance(event.target_class, str) else "other"
                ring = content[max(0, y - 9) : y + 10, max(0, x - 9) : x + 10]
                assert (np.abs(ring - _hex_rgb(GROUP_COLOURS[group])).max(axis=2) < 40).sum() >= 10, (
                    f"no {group} marker at ({x}, {y}) in {area['data-clip-id']}")
                # The marker leaves its centre clear: what shows there is the frame itself.
                checked += 1
                people += group == "speech"
                misses += not changed[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3].any()
    assert checked >= 25 and people >= 10, (checked, people)
    assert misses == 0, f"{misses} of {checked} markers are not on a sprite"


def test_each_sheet_shows_the_frame_with_the_most_onscreen_events(curated):
    """The frame named on each cell is, among the clip's 20 frames, one with the most onscreen events (counted here
    from the manifests), and of those the nearest the middle."""
    _, out, _, _, _ = curated
    events = read_manifests(out)["events"]
    checked = 0
    for split in ("generation", "evaluation"):
        for area, clip, _ in _sheet_events(out, split):
            onscreen = events[(events["clip_id"] == area["data-clip-id"]) & events["onscreen"]]
            per_frame = [int((onscreen["frame"] == math.floor(2.5 * k)).sum()) for k in range(20)]
            best = [k for k in range(20) if per_frame[k] == max(per_frame)]
            nearest = min(best, key=lambda k: abs(k - 9.5))
            assert int(area["data-video-frame"]) == nearest, (area["data-clip-id"], per_frame)
            checked += 1
    assert checked >= 8


def test_the_sheet_decoder_matches_the_ffmpeg_decode_path_pixel_for_pixel(curated):
    """`ClipVideo.frame` (PyAV, in-process, only the frame asked for) gives what the page decoded before it
    (`iter_video_frames`: an ffmpeg process decoding the whole clip) at every index of a few clips, at the clips'
    own size and scaled: the sheets stay pixel-identical wherever the frame chosen is the same."""
    _, out, _, _, _ = curated
    clips = read_manifests(out)["clips"].sort_values("clip_id")
    for clip in clips.iloc[:: max(1, len(clips) // 4)].itertuples():
        path = out / clip.video_path
        for size_px in ((256, 256), (160, 120)):
            everything = list(iter_video_frames(path, *size_px))
            assert len(everything) == 20
            with ClipVideo(path) as video:
                assert (video.fps, video.n_frames) == (4, 20)
                for k in range(video.n_frames):
                    assert np.array_equal(video.frame(k, *size_px), everything[k]), (clip.clip_id, size_px, k)


def test_world_directions_match_the_source_annotations(curated):
    source, out, _, _, _ = curated
    tables = read_manifests(out)
    directions = world_directions(tables["events"], tables["clips"])
    annotations = {}
    for csv_path in source.glob("metadata_*/*/*.csv"):
        for row in read_annotations(csv_path):
            annotations[(csv_path.stem, row.frame, row.class_id, row.source_index)] = row
    matched = [annotations[(r.recording_id, round(r.time_s * 10), r.class_id, r.source_index)]
               for r in directions.itertuples()]
    assert len(matched) > 100
    recovered = angles_to_unit(directions["azimuth_deg"], directions["elevation_deg"])
    expected = angles_to_unit([row.azimuth_deg for row in matched], [row.elevation_deg for row in matched])
    np.testing.assert_allclose(recovered, expected, atol=1e-9)


def test_manifests_load_as_categoricals_with_no_numbers_in_object_columns(curated):
    _, out, _, _, _ = curated
    categorical = {"recordings": ["source_folder", "split", "status", "reason"],
                   "clips": ["split", "source_folder"], "events": ["class_name", "target_class"],
                   "rejects": ["stage", "reason"]}
    for name, columns in categorical.items():
        table = pd.read_parquet(out / "manifests" / f"{name}.parquet")
        for column in columns:
            assert isinstance(table[column].dtype, pd.CategoricalDtype), (name, column)
        for column in table.columns[table.dtypes == object]:
            values = table[column].dropna()
            assert not values.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).any(), column
    clips = pd.read_parquet(out / "manifests" / "clips.parquet")
    events = pd.read_parquet(out / "manifests" / "events.parquet")
    recordings = pd.read_parquet(out / "manifests" / "recordings.parquet")
    joined = events.merge(clips, on=["clip_id", "recording_id"], validate="many_to_one").merge(
        recordings[["recording_id", "duration_s"]], on="recording_id", suffixes=("", "_recording"))
    assert len(joined) == len(events)


def with_verification_stage(out: Path, copy: Path) -> Path:
    """A copy of a curated output (manifests copied, media linked) as if the verification stage had run: a box
    around each onscreen talker in every video frame, and the nullable columns it adds to events and clips."""
    copy.mkdir()
    for entry in out.iterdir():
        if entry.name not in ("manifests", "report"):
            (copy / entry.name).symlink_to(entry)
    shutil.copytree(out / "manifests", copy / "manifests")
    events = pq.read_table(copy / "manifests" / "events.parquet")
    clips = pq.read_table(copy / "manifests" / "clips.parquet")
    talkers = events.to_pandas()
    talkers = talkers[talkers["onscreen"] & (talkers["target_class"] == "speech")]
    boxes = []
    for k in range(20):
        at_k = talkers[talkers["frame"] == math.floor(2.5 * k)]
        boxes.append(pd.DataFrame({
            "clip_id": at_k["clip_id"], "frame": k, "class_name": "person", "score": 0.9,
            "x0": at_k["x_px"] - 15, "y0": at_k["y_px"] - 30, "x1": at_k["x_px"] + 15, "y1": at_k["y_px"] + 30}))
    pq.write_table(pa.Table.from_pandas(pd.concat(boxes), preserve_index=False),
                   copy / "manifests" / "detections.parquet")
    confirmed = pa.array([None if i % 3 == 0 else bool(i % 2) for i in range(events.num_rows)], pa.bool_())
    pq.write_table(events.set_column(events.schema.get_field_index("visually_confirmed"), "visually_confirmed",
                                     confirmed), copy / "manifests" / "events.parquet")
    rate = pa.array([None if i % 4 == 0 else 0.75 for i in range(clips.num_rows)], pa.float64())
    pq.write_table(clips.set_column(clips.schema.get_field_index("visual_confirmation_rate"),
                                    "visual_confirmation_rate", rate), copy / "manifests" / "clips.parquet")
    return copy


def test_detection_boxes_are_drawn_when_the_verification_stage_ran(curated, tmp_path, capsys):
    _, out, _, _, _ = curated
    verified = with_verification_stage(out, tmp_path / "verified")
    tables = read_manifests(verified)
    assert tables["events"]["visually_confirmed"].dtype == "boolean"
    assert tables["clips"]["visual_confirmation_rate"].dtype == "float64"
    assert main(["audit", str(verified)]) == 0
    html_path = verified / "report" / "index.html"
    assert f"report: {html_path}" in capsys.readouterr().out
    assert "verification stage's detections" in html_path.read_text()
    green = _hex_rgb(DETECTION_COLOUR)
    boxed = 0
    for split in ("generation", "evaluation"):
        sheet = np.asarray(Image.open(verified / "report" / "audit" / f"contact_sheet_{split}.png").convert("RGB"))
        for area, _, shown in _sheet_events(verified, split):
            x0, y0 = (int(value) for value in area["coords"].split(",")[:2])
            for event in shown[shown["target_class"] == "speech"].itertuples():
                # The box's left edge, away from its label at the top and from other markers' rings.
                x, y = x0 + int(round(event.x_px - 15)), y0 + TOP_BAR_PX + int(event.y_px) + 20
                if 0 <= event.x_px - 15 and event.y_px + 30 <= 144:
                    edge = sheet[y - 3 : y + 4, x - 1 : x + 2].astype(int)
                    assert (np.abs(edge - green).max(axis=2) < 40).any(), area["data-clip-id"]
                    boxed += 1
    assert boxed >= 5


def cookbook_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", COOKBOOK.read_text(), flags=re.S)


def run_cookbook(out: Path) -> list[str]:
    """Run the doc's python blocks in order in one namespace, with OUT pointing at `out`; returns their output."""
    blocks = cookbook_blocks()
    outputs, namespace = [], {}
    for block in blocks:
        code = block.replace('OUT = "demo/out"', f"OUT = {str(out)!r}")
        with contextlib.redirect_stdout(io.StringIO()) as printed, warnings.catch_warnings():
            # A snippet that makes pandas warn (e.g. a missing observed=True) teaches the wrong habit.
            warnings.simplefilter("error")
            exec(compile(code, str(COOKBOOK), "exec"), namespace)
        outputs.append(printed.getvalue())
    return outputs


def test_cookbook_snippets_run_as_written_and_each_shows_its_output(curated, tmp_path):
    _, out, _, _, _ = curated
    text = COOKBOOK.read_text()
    blocks = cookbook_blocks()
    assert 'OUT = "demo/out"' in blocks[0]
    # Every snippet is followed by its output on the demo set (a ```text block after it, before the next snippet).
    for block, following in zip(blocks, text.split("```python\n")[1:]):
        assert "```text\n" in following.split(block, 1)[1], block.splitlines()[0]
    outputs = run_cookbook(out)
    assert all(output.strip() for output in outputs)
    assert "no detections.parquet" in outputs[-1]
    verified_outputs = run_cookbook(with_verification_stage(out, tmp_path / "verified"))
    assert "0.75" in verified_outputs[-1]
