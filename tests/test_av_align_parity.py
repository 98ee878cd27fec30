"""Randomised parity of the metric with the written rule (docs/conventions.md, "Spatial AV-Align (the benchmark's
metric, exactly as the authors' script computes it)"): 2,500 seeded random clips, their localisations written as the
authors' SELD CSVs (no header, floats) and read back with `read_localizations_csv`, scored by
`match_boxes_authors`, and by a plain loop that follows the written rule line by line. Per clip TP and FN must agree.
The clips are drawn to hit the edges: pixels on and a fraction past x ± 40, x off the picture, frames 46–51, two
rows per frame, clips without boxes.

The second test goes through the command line: 2,500 other random clips written as both of the authors' CSVs (SELD
rows and object-detection rows, integers or floats, sometimes a header line; a clip without boxes has an empty
detection file or none), scored by `savgbench evaluate --localizations A --detections B` without any video."""

import numpy as np

from curation.metric.av_align import AlignCounts, align_counts, match_boxes_authors
from curation.metric.evaluate import read_localizations_csv

N_CLIPS = 2500


def written_rule(sounds, boxes) -> tuple[int, int]:
    """TP, FN of one clip by the written rule: sounds [(frame, class, x)], boxes [(frame, x0, x1)]."""
    tp = fn = 0
    for frame, _class, x in sounds:
        if not boxes:
            fn += 1
            continue
        k = int(np.round(frame * 4 / 10))
        if k == 20:
            k = 19
        assert 0 <= k <= 19
        if any(k - 1 <= box_frame <= k + 1 and int(x1) >= int(x) - 40 and int(x0) <= int(x) + 40
               for box_frame, x0, x1 in boxes):
            tp += 1
        else:
            fn += 1
    return tp, fn


def random_pixel(rng, near: list[float]) -> float:
    """A pixel anywhere in −60 … 316, or on / a fraction either side of an edge near it."""
    kind = rng.integers(4)
    if kind == 0 or not near:
        return float(rng.uniform(-60.0, 316.0))
    edge = float(rng.choice(near))
    if kind == 1:
        return edge
    return edge + float(rng.choice([-1, 1])) * float(rng.choice([0.001, 0.3, 0.5, 0.999, 1.0, 1.5]))


def random_clip(rng):
    """Sounds [(frame, class, x)] (frames 0–51, weighted to the last ones; sometimes two rows in a frame) and boxes
    [(frame 0–19, x0, x1)], none in about one clip in eight; box edges often on or near a sound's x ± 40."""
    sounds = []
    for _ in range(rng.integers(0, 9)):
        frame = int(rng.integers(44, 52)) if rng.random() < 0.4 else int(rng.integers(0, 52))
        x_px = random_pixel(rng, [-3.0, -0.5, 0.0, 256.0, 259.0])
        sounds.append((frame, int(rng.integers(0, 2)), x_px))
        if rng.random() < 0.2:
            sounds.append((frame, int(rng.integers(0, 2)), random_pixel(rng, [x_px])))
    boxes = []
    if rng.random() >= 0.125:
        for _ in range(rng.integers(1, 7)):
            edges = [x + offset for _, _, x in sounds for offset in (-40.0, 40.0)]
            x0 = random_pixel(rng, edges)
            x1 = max(x0, random_pixel(rng, edges)) if rng.random() < 0.5 else x0 + float(rng.uniform(0.0, 80.0))
            boxes.append((int(rng.integers(0, 20)), min(max(x0, 0.0), 256.0), min(max(x1, 0.0), 256.0)))
    return sounds, boxes


EDGE_KINDS = ("no boxes", "off picture", "last frames", "two rows", "truncation decides")


def count_edge_kinds(kinds: dict[str, int], sounds, boxes, tp: int) -> None:
    """Add one clip to the counts of the edge kinds it exercises (EDGE_KINDS); `tp` is its TP by the written rule."""
    kinds["no boxes"] += bool(sounds) and not boxes
    kinds["off picture"] += any(x < 0 or x > 256 for _, _, x in sounds)
    kinds["last frames"] += any(f >= 49 for f, _, _ in sounds)
    kinds["two rows"] += len({f for f, _, _ in sounds}) < len(sounds)
    # A clip whose floats, compared without truncation, would give other counts.
    untruncated = sum(any(abs(round(f * 4 / 10) - k) <= 1 and a <= x + 40 and b >= x - 40 for k, a, b in boxes)
                      for f, _, x in sounds)
    kinds["truncation decides"] += bool(boxes) and untruncated != tp


def test_metric_agrees_with_the_written_rule_on_random_clips_in_the_authors_csv_format(tmp_path):
    rng = np.random.default_rng(20261130)
    ours, reference = [], []
    kinds = dict.fromkeys(EDGE_KINDS, 0)
    for index in range(N_CLIPS):
        sounds, boxes = random_clip(rng)
        path = tmp_path / f"clip{index}.csv"
        # As the authors' pandas writer formats them: every number a float, no header.
        path.write_text("".join(f"{float(f)!r},{float(c)!r},{x!r}\n" for f, c, x in sounds))
        label_frame, class_index, x_px = read_localizations_csv(path)
        assert class_index.tolist() == [c for _, c, _ in sounds]
        box_columns = [list(column) for column in zip(*boxes)] if boxes else [[], [], []]
        counts = align_counts(match_boxes_authors(label_frame, x_px, *box_columns))
        expected = AlignCounts(*written_rule(sounds, boxes))
        assert counts == expected, (index, sounds, boxes)
        ours.append(counts)
        reference.append(expected)
        count_edge_kinds(kinds, sounds, boxes, expected.tp)
    # The random clips do exercise every edge kind, many times each.
    assert min(kinds.values()) >= 50, kinds
    pooled = AlignCounts.pooled(ours)
    assert pooled == AlignCounts.pooled(reference) and pooled.n_scored > 5000


def number_text(value: float, rng) -> str:
    """A number as some writer of the authors' CSVs would put it: pandas' float (`12.0`), an integer where it is
    whole (`12`), or the shortest float text."""
    if float(value).is_integer() and rng.random() < 0.5:
        return str(int(value))
    return repr(float(value))


def write_authors_csvs(rng, index: int, sounds, boxes, localizations_dir, detections_dir) -> str:
    """Clip `index` as the authors' CSVs: its SELD rows, and its boxes as frame,category,x0,y0,x1,y1. A clip without
    boxes gets an empty detection file or none at all; some files start with a header line. Returns how the
    detection file was written ("rows", "empty", "missing")."""
    header = rng.random() < 0.1
    lines = ["frame,class,x"] if header else []
    lines += [f"{number_text(f, rng)},{number_text(c, rng)},{number_text(x, rng)}" for f, c, x in sounds]
    (localizations_dir / f"clip{index:05d}.csv").write_text("".join(f"{line}\n" for line in lines))
    path = detections_dir / f"clip{index:05d}.csv"
    if not boxes:
        if rng.random() < 0.5:
            return "missing"
        path.write_text("")
        return "empty"
    lines = ["frame,category,x0,y0,x1,y1"] if header else []
    for frame, x0, x1 in boxes:
        y0 = float(rng.uniform(56.0, 150.0))
        fields = [frame, 0, x0, y0, x1, y0 + float(rng.uniform(0.0, 50.0))]
        lines.append(",".join(number_text(value, rng) for value in fields))
    path.write_text("".join(f"{line}\n" for line in lines))
    return "rows"


def test_evaluate_on_the_authors_csvs_alone_agrees_with_the_written_rule_on_random_clips(tmp_path, capsys):
    import json

    import pyarrow.parquet as pq

    from flows.cli import main

    rng = np.random.default_rng(20261201)
    localizations, detections = tmp_path / "seld", tmp_path / "boxes"
    localizations.mkdir()
    detections.mkdir()
    expected, written, kinds = {}, {"rows": 0, "empty": 0, "missing": 0}, dict.fromkeys(EDGE_KINDS, 0)
    for index in range(N_CLIPS):
        sounds, boxes = random_clip(rng)
        written[write_authors_csvs(rng, index, sounds, boxes, localizations, detections)] += 1
        expected[f"clip{index:05d}"] = written_rule(sounds, boxes)
        count_edge_kinds(kinds, sounds, boxes, expected[f"clip{index:05d}"][0])
    result_path, parquet_path = tmp_path / "score.json", tmp_path / "per_clip.parquet"
    assert main(["evaluate", "--localizations", str(localizations), "--detections", str(detections),
                 "--json", str(result_path), "--parquet", str(parquet_path)]) == 0
    assert "no video read" in capsys.readouterr().err
    per_clip = pq.read_table(parquet_path).to_pylist()
    assert {row["clip"]: (row["tp"], row["fn"]) for row in per_clip} == expected
    assert min(written.values()) >= 100 and min(kinds.values()) >= 50, (written, kinds)
    result = json.loads(result_path.read_text())
    assert (result["tp"], result["fn"], result["clips"]) == (sum(tp for tp, _ in expected.values()),
                                                             sum(fn for _, fn in expected.values()), N_CLIPS)
