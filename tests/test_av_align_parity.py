"""Randomised parity of the metric with the written rule (docs/conventions.md, "Spatial AV-Align (the benchmark's
metric, exactly as the authors' script computes it)"): 2,500 seeded random clips, their localisations written as the
authors' SELD CSVs (no header, floats) and read back with `read_localizations_csv`, scored by
`match_boxes_authors`, and by a plain loop that follows the written rule line by line. Per clip TP and FN must agree.
The clips are drawn to hit the edges: pixels on and a fraction past x ± 40, x off the picture, frames 46–51, two
rows per frame, clips without boxes."""

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


def test_metric_agrees_with_the_written_rule_on_random_clips_in_the_authors_csv_format(tmp_path):
    rng = np.random.default_rng(20261130)
    ours, reference = [], []
    kinds = {"no boxes": 0, "off picture": 0, "last frames": 0, "two rows": 0, "truncation decides": 0}
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
        kinds["no boxes"] += bool(sounds) and not boxes
        kinds["off picture"] += any(x < 0 or x > 256 for _, _, x in sounds)
        kinds["last frames"] += any(f >= 49 for f, _, _ in sounds)
        kinds["two rows"] += len({f for f, _, _ in sounds}) < len(sounds)
        # A clip whose floats, compared without truncation, would give other counts.
        untruncated = sum(any(abs(round(f * 4 / 10) - k) <= 1 and a <= x + 40 and b >= x - 40 for k, a, b in boxes)
                          for f, _, x in sounds)
        kinds["truncation decides"] += bool(boxes) and untruncated != expected.tp
    # The random clips do exercise every edge kind, many times each.
    assert min(kinds.values()) >= 50, kinds
    pooled = AlignCounts.pooled(ours)
    assert pooled == AlignCounts.pooled(reference) and pooled.n_scored > 5000
