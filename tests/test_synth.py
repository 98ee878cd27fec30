"""Synthetic STARSS23-style recordings: sprites where the annotations say, sound from where they say, files in
the STARSS23 layout, deterministic, and the annotation-driven mode following real trajectories."""

from fractions import Fraction
from pathlib import Path
import shutil

import cv2
import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from curation.foa import W, X, Y, Z, mid_side_stereo, prepare_foa, rotate_foa, stereo_weights
from curation.geometry import (
    angles_to_unit,
    equirect_angles,
    equirect_pixel,
    pinhole_project,
    to_view_frame,
    vertical_fov_deg,
)
from curation.media import iter_video_frames, probe_media
from curation.synthetic.sprites import Sprite, person_sprites, player_sprite, shape_sprite, ultralytics_assets_dir
from curation.synthetic.generator import (
    INSTRUMENT_CLASS_ID,
    PERSON_CLASS_IDS,
    SPEECH_CLASS_IDS,
    Billboard,
    SynthConfig,
    assign_sprites,
    frame_billboards,
    label_frame_of_video_frame,
    n_label_frames,
    render_equirect_frame,
    room_background,
    source_band_hz,
    synthesize_foa,
    synthetic_events,
    write_synthetic_dataset,
)
from data_contracts.annotations import AnnotationRow, read_annotations
from tests.helpers import ARTIFACTS, starss22_sample

RATE_HZ = 24000
FRAME_SAMPLES = RATE_HZ // 10
SMALL = SynthConfig(n_recordings=3, duration_s=3.0, seed=5, width_px=768, height_px=384, fps=Fraction(10))


def white_square(size_px: int = 64) -> Sprite:
    """An opaque, symmetric sprite: its alpha centroid is its bounding-box centre."""
    return Sprite("square", np.full((size_px, size_px, 4), 255, np.uint8))


def alpha_centroid_px(frame: np.ndarray, expected_x_px: float) -> tuple[float, float]:
    """Centroid (x_px, y_px) of a white sprite on black, unwrapped around expected_x_px (handles the seam)."""
    width_px = frame.shape[1]
    weight = frame[..., 0].astype(np.float64) / 255.0
    ys, xs = np.mgrid[0 : frame.shape[0], 0:width_px] + 0.5
    # Unwrap x to the copy nearest the expected position, so a sprite across the ±180° seam stays in one piece.
    xs = expected_x_px + (xs - expected_x_px + width_px / 2) % width_px - width_px / 2
    return float((weight * xs).sum() / weight.sum()), float((weight * ys).sum() / weight.sum())


# ---------------------------------------------------------------------------------------------------------------
# (a) rendering geometry


@pytest.mark.parametrize(
    "azimuth_deg, elevation_deg",
    [(0, 0), (45, 0), (90, 10), (-120, -10), (179, 0), (-178, 5), (180, -3), (30, 25)],
)
def test_billboard_is_centred_at_its_equirect_pixel(azimuth_deg, elevation_deg):
    width_px, height_px = 640, 320
    black = np.zeros((height_px, width_px, 3), np.uint8)
    frame = render_equirect_frame(black, [Billboard(white_square(), azimuth_deg, elevation_deg, 20.0)])
    expected_x, expected_y = (float(v) for v in equirect_pixel(azimuth_deg, elevation_deg, width_px, height_px))
    x_px, y_px = alpha_centroid_px(frame, expected_x)
    assert abs(x_px - expected_x) < 2.0 and abs(y_px - expected_y) < 2.0, (x_px, y_px, expected_x, expected_y)


def test_positive_azimuth_is_drawn_in_the_left_half():
    width_px, height_px = 640, 320
    black = np.zeros((height_px, width_px, 3), np.uint8)
    left = render_equirect_frame(black, [Billboard(white_square(), 60.0, 0.0, 20.0)])
    right = render_equirect_frame(black, [Billboard(white_square(), -60.0, 0.0, 20.0)])
    assert left[:, : width_px // 2].sum() > 0 and left[:, width_px // 2 :].sum() == 0
    assert right[:, width_px // 2 :].sum() > 0 and right[:, : width_px // 2].sum() == 0


def test_billboard_across_the_seam_is_drawn_on_both_edges():
    width_px, height_px = 640, 320
    black = np.zeros((height_px, width_px, 3), np.uint8)
    frame = render_equirect_frame(black, [Billboard(white_square(), 180.0, 0.0, 20.0)])
    covered_columns = np.flatnonzero(frame[..., 0].max(axis=0) > 127)
    # 20° of a 640-px panorama is about 36 px, split between the first and the last columns.
    assert covered_columns.min() == 0 and covered_columns.max() == width_px - 1
    assert 30 <= covered_columns.size <= 40


@pytest.mark.parametrize("height_deg", [10.0, 40.0])
def test_billboard_has_its_angular_height(height_deg):
    width_px, height_px = 720, 360
    black = np.zeros((height_px, width_px, 3), np.uint8)
    frame = render_equirect_frame(black, [Billboard(white_square(), 0.0, 0.0, height_deg)])
    column = frame[:, width_px // 2, 0].astype(np.float64) / 255.0
    # On the centre column elevation = atan(plane height), so the square spans exactly ±height/2 of elevation.
    assert column.sum() == pytest.approx(height_deg * height_px / 180.0, abs=1.0)


def test_billboard_near_the_pole_is_drawn_and_stays_near_its_direction():
    width_px, height_px = 640, 320
    black = np.zeros((height_px, width_px, 3), np.uint8)
    frame = render_equirect_frame(black, [Billboard(white_square(), 40.0, 82.0, 20.0)])
    ys, xs = np.nonzero(frame[..., 0] > 127)
    assert ys.size > 0
    azimuth_deg, elevation_deg = equirect_angles(xs + 0.5, ys + 0.5, width_px, height_px)
    cos_distance = angles_to_unit(azimuth_deg, elevation_deg) @ angles_to_unit(40.0, 82.0)
    # Every drawn pixel lies within the square's angular radius (half-diagonal atan(√2·tan 10°) ≈ 14°).
    assert np.rad2deg(np.arccos(np.clip(cos_distance, -1, 1))).max() < 15.0
    x_px, y_px = equirect_pixel(40.0, 82.0, width_px, height_px)
    assert frame[int(y_px), int(x_px), 0] == 255


def test_rendering_leaves_the_background_untouched_and_is_deterministic():
    background = room_background(640, 320)
    assert not background.flags.writeable
    before = background.copy()
    billboard = Billboard(person_sprites()[0], 10.0, 0.0, 40.0)
    first = render_equirect_frame(background, [billboard])
    second = render_equirect_frame(background, [billboard])
    assert np.array_equal(background, before)
    assert np.array_equal(first, second)
    assert np.array_equal(room_background(640, 320), before)


def test_background_is_low_contrast_and_textured():
    background = room_background(640, 320).astype(np.float64)
    assert 60 < background.mean() < 200
    # Textured, not flat, yet smooth: 99 % of neighbouring pixels differ by less than 20 levels (the strongest
    # edges are where walls meet the floor and around the door).
    local = np.abs(background - cv2.GaussianBlur(background, (0, 0), 2.0)).mean()
    assert local > 1.0
    for axis in (0, 1):
        gradient = np.abs(np.diff(background, axis=axis)).max(axis=2)
        assert np.percentile(gradient, 99) < 20


# ---------------------------------------------------------------------------------------------------------------
# Sprites


def test_sprites_come_from_the_ultralytics_assets_folder():
    from ultralytics.utils import ASSETS

    assert ultralytics_assets_dir() == Path(ASSETS)
    assert (ultralytics_assets_dir() / "bus.jpg").is_file() and (ultralytics_assets_dir() / "zidane.jpg").is_file()


def test_person_sprites_are_real_cutouts():
    people = person_sprites()
    assert len(people) >= 4
    assert len({person.name for person in people}) == len(people)
    for person in people:
        rgba = person.rgba
        assert rgba.dtype == np.uint8 and rgba.ndim == 3 and rgba.shape[2] == 4
        assert rgba.shape[0] > 300, person.name  # a real photo crop, not a thumbnail
        alpha = rgba[..., 3]
        # Cropped to the alpha box, with the photo's background cut away: a good part is transparent,
        # the middle of the body is opaque.
        assert alpha[0].any() and alpha[-1].any() and alpha[:, 0].any() and alpha[:, -1].any()
        assert 0.1 < (alpha == 0).mean() < 0.8, person.name
        assert (alpha > 250).mean() > 0.2
    assert person_sprites() is people  # cached


def test_shape_sprites_are_distinct_and_the_instrument_is_not_person_coloured():
    sprites = {class_id: shape_sprite(class_id) for class_id in range(13)}
    for class_id, sprite in sprites.items():
        rgba = sprite.rgba
        h_px, w_px = rgba.shape[:2]
        # Solid at the bounding-box centre, where the renderer puts the source direction.
        assert rgba[h_px // 2, w_px // 2, 3] == 255, class_id
    means = {c: s.rgba[..., :3][s.rgba[..., 3] > 200].mean(axis=0) for c, s in sprites.items()}
    for a in range(13):
        for b in range(a + 1, 13):
            same_size = sprites[a].rgba.shape == sprites[b].rgba.shape
            assert not (same_size and np.abs(means[a] - means[b]).max() < 10), (a, b)
    guitar = means[INSTRUMENT_CLASS_ID]
    assert guitar[0] > 150 and guitar[2] < 80  # saturated amber


def test_sprites_are_assigned_per_source_and_stably():
    """Sounds made by people are distinct people (an instrument's person plays the drawn guitar); objects and
    footsteps keep their drawn shapes."""
    keys = [(1, 1), (9, 0), (2, 2), (4, 3), (3, 4), (11, 5), (6, 6), (8, 7), (10, 8), (7, 9), (12, 10), (5, 11)]
    first = assign_sprites(keys, seed=7)
    assert assign_sprites(list(reversed(keys)), seed=7) == first
    assert set(PERSON_CLASS_IDS) == {0, 1, 2, 4, INSTRUMENT_CLASS_ID}
    people = {person.name: person for person in person_sprites()}
    for key in [(1, 1), (2, 2), (4, 3)]:
        assert first[key] in person_sprites(), key
    player = first[(9, 0)]
    person = people[player.name.removesuffix(f"_with_{shape_sprite(INSTRUMENT_CLASS_ID).name}")]
    assert player is player_sprite(person, shape_sprite(INSTRUMENT_CLASS_ID))
    # Four sources made by people, four people in the photos: each source is someone else.
    assert len({first[key].name.split("_with_")[0] for key in [(1, 1), (9, 0), (2, 2), (4, 3)]}) == 4
    for class_id, index in keys:
        if class_id not in PERSON_CLASS_IDS:
            assert first[(class_id, index)] is shape_sprite(class_id), class_id


def test_a_player_is_the_person_with_the_instrument_in_front_of_the_body():
    guitar = shape_sprite(INSTRUMENT_CLASS_ID)
    for person in person_sprites():
        player = player_sprite(person, guitar)
        assert player is player_sprite(person, guitar)  # cached: the same object for every frame
        # Same bounding box and scale as the person: the renderer puts the same point on the source direction.
        assert player.rgba.shape == person.rgba.shape and player.height_scale == person.height_scale
        alpha, person_alpha = player.rgba[..., 3].astype(int), person.rgba[..., 3].astype(int)
        assert alpha[0].any() and alpha[-1].any() and alpha[:, 0].any() and alpha[:, -1].any()
        # The person's alpha plus the instrument's: nothing of the person is lost, and beside a slim standing
        # person the guitar adds pixels of its own (a person cut at the waist is wide enough to cover it).
        assert (alpha >= person_alpha - 1).all(), person.name
        added = (alpha > 200) & (person_alpha == 0)
        assert added.sum() > 0.01 * alpha.size or person.height_scale < 1.0, person.name
        # Where the guitar covers the body the colour is the guitar's amber, over a good part of the picture, and
        # the head (the top tenth) is not covered.
        amber = ((player.rgba[..., 0] > 180) & (player.rgba[..., 2] < 90) & (alpha > 200)
                 & ~((person.rgba[..., 0] > 180) & (person.rgba[..., 2] < 90)))
        assert amber.sum() > 0.03 * alpha.size, person.name
        head = player.rgba[: player.rgba.shape[0] // 10].astype(int), person.rgba[: person.rgba.shape[0] // 10].astype(int)
        assert np.array_equal(head[0][..., 3], head[1][..., 3]), person.name
        opaque = head[1][..., 3] > 127
        assert np.abs(head[0][opaque] - head[1][opaque]).max() <= 2, person.name


@pytest.mark.parametrize("playing", [False, True])
@pytest.mark.parametrize("sprite_index", range(4))
def test_each_person_is_visible_at_its_centre_everywhere_in_the_room(sprite_index, playing):
    """Wherever a person stands (walls, floor, door, window), talking or playing, the pixels at its direction
    change clearly."""
    width_px, height_px = 960, 480
    background = room_background(width_px, height_px)
    person = person_sprites()[sprite_index]
    if playing:
        person = player_sprite(person, shape_sprite(INSTRUMENT_CLASS_ID))
    for azimuth_deg in range(-180, 180, 20):
        for elevation_deg in (-15, 0, 15):
            frame = render_equirect_frame(
                background, [Billboard(person, azimuth_deg, elevation_deg, 40.0 * person.height_scale)])
            x_px, y_px = (int(v) for v in equirect_pixel(azimuth_deg, elevation_deg, width_px, height_px))
            cols = np.arange(x_px - 3, x_px + 4) % width_px
            change = np.abs(frame[y_px - 3 : y_px + 4][:, cols].astype(int)
                            - background[y_px - 3 : y_px + 4][:, cols].astype(int)).max()
            assert change > 40, (person.name, azimuth_deg, elevation_deg)


# ---------------------------------------------------------------------------------------------------------------
# Events


@pytest.mark.parametrize("recording_index", range(6))
def test_synthetic_events_are_starss_like(recording_index):
    duration_s = 20.0
    rows = synthetic_events(duration_s, seed=0, recording_index=recording_index)
    n_frames = n_label_frames(duration_s)
    assert rows == synthetic_events(duration_s, seed=0, recording_index=recording_index)
    assert rows == sorted(rows, key=lambda r: (r.frame, r.class_id, r.source_index))
    assert len({(r.frame, r.class_id, r.source_index) for r in rows}) == len(rows)
    for r in rows:
        assert 0 <= r.frame < n_frames
        assert -180 <= r.azimuth_deg <= 180 and -90 <= r.elevation_deg <= 90
        assert float(r.azimuth_deg).is_integer() and float(r.elevation_deg).is_integer()
        assert 100 <= r.distance_cm <= 400
    sources = {(r.class_id, r.source_index) for r in rows}
    assert 2 <= len(sources) <= 4
    assert len({index for _, index in sources}) == len(sources), "each source has its own band"

    def track(key):
        mine = [r for r in rows if (r.class_id, r.source_index) == key]
        return (np.array([r.frame for r in mine]), np.array([r.azimuth_deg for r in mine]),
                np.array([r.elevation_deg for r in mine]))

    first_talker = next(key for key in sources if key[1] == 0)
    assert first_talker[0] in SPEECH_CLASS_IDS, "source 0 is always a talker"
    for key in sources:
        if key[0] not in SPEECH_CLASS_IDS:
            continue
        frames, azimuth_deg, elevation_deg = track(key)
        step_deg = np.abs((np.diff(azimuth_deg) + 180) % 360 - 180)[np.diff(frames) == 1]
        # A few °/s, smooth: at most 1° per 100 ms frame plus the integer rounding.
        assert step_deg.max(initial=0) <= 2 and step_deg.mean() < 0.8
        assert np.abs(elevation_deg).max() <= 15
    # Long turns: the first talker's activity is made of runs of several seconds, a good share of the recording.
    frames, _, _ = track(first_talker)
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], np.isin(np.arange(n_frames), frames), [0]]))))
    assert runs[::2].mean() >= 30 and frames.size >= 0.3 * n_frames


def test_sources_take_turns_and_stand_together_as_in_starss():
    """STARSS22's development annotations have two or more sources active in 28 % of the label frames, and two
    sources active at once are a median 69° apart. Sources spread evenly around the camera and all active most of
    the time (as an earlier generator made them) put a second source behind the camera in half of the frames, where
    mid-side stereo folds it into the picture."""
    per_frame: dict[tuple[int, int], list] = {}
    for index in range(30):
        for row in synthetic_events(60.0, 0, index):
            per_frame.setdefault((index, row.frame), []).append(row)
    n_frames = 30 * n_label_frames(60.0)
    polyphonic = sum(len(active) >= 2 for active in per_frame.values())
    assert 0.1 * n_frames < polyphonic < 0.3 * n_frames
    separation_deg = [abs((a.azimuth_deg - b.azimuth_deg + 180) % 360 - 180)
                      for active in per_frame.values() for i, a in enumerate(active) for b in active[i + 1 :]]
    assert np.median(separation_deg) < 100


def test_events_change_with_recording_index_and_seed():
    assert synthetic_events(5.0, 0, 0) != synthetic_events(5.0, 0, 1)
    assert synthetic_events(5.0, 0, 0) != synthetic_events(5.0, 1, 0)


def test_instrument_and_other_classes_occur():
    classes = {r.class_id for index in range(12) for r in synthetic_events(20.0, 0, index)}
    assert INSTRUMENT_CLASS_ID in classes
    assert classes - set(SPEECH_CLASS_IDS) - {INSTRUMENT_CLASS_ID}


def test_savgbench_rule_keeps_windows_of_synthetic_recordings():
    """≥ 40 of 50 label frames with an onscreen speech/instrument event in some 100°-wide view (every 10°), in well
    over half of the windows: many more than the 21 % of windows of the real STARSS22 annotations, so that short
    synthetic recordings give clips to test with, though not in every window, as sources take turns at different
    places."""
    v_fov_deg = vertical_fov_deg(100.0, 256, 144)
    for index in range(3):
        rows = [r for r in synthetic_events(20.0, 0, index) if r.class_id in (*SPEECH_CLASS_IDS, INSTRUMENT_CLASS_ID)]
        kept_windows = 0
        starts = range(0, 200 - 50 + 1, 5)
        for start in starts:
            window = [r for r in rows if start <= r.frame < start + 50]
            directions = angles_to_unit([r.azimuth_deg for r in window], [r.elevation_deg for r in window])
            frames = np.array([r.frame for r in window])
            for view_azimuth_deg in range(0, 360, 10):
                onscreen = pinhole_project(to_view_frame(directions, view_azimuth_deg), 100.0, v_fov_deg, 256, 144)[2]
                if np.unique(frames[onscreen]).size >= 40:
                    kept_windows += 1
                    break
        assert kept_windows >= 0.6 * len(starts), index


# ---------------------------------------------------------------------------------------------------------------
# (b) audio


def moving_rows() -> list[AnnotationRow]:
    """Three sources over 3 s, each turning 1° per label frame; source 1 is silent in frames 10–14."""
    rows = []
    for frame in range(30):
        rows.append(AnnotationRow(frame, 1, 0, 30.0 + frame, 0.0, 200.0))
        if not 10 <= frame < 15:
            rows.append(AnnotationRow(frame, INSTRUMENT_CLASS_ID, 1, -100.0 - frame, 20.0 - frame / 2, 250.0))
        rows.append(AnnotationRow(frame, 11, 2, 150.0 + frame, -10.0, 300.0))
    return rows


@pytest.fixture(scope="module")
def moving_foa() -> np.ndarray:
    return synthesize_foa(moving_rows(), 3.0, rate_hz=RATE_HZ, seed=11)


def band(foa: np.ndarray, source_index: int) -> np.ndarray:
    low_hz, high_hz = source_band_hz(source_index)
    sos = signal.butter(8, (low_hz, high_hz), btype="bandpass", fs=RATE_HZ, output="sos")
    return signal.sosfiltfilt(sos, foa, axis=0)


def test_source_bands_are_disjoint_and_in_range():
    bands = [source_band_hz(index) for index in range(4)]
    for (low_a, high_a), (low_b, _) in zip(bands, bands[1:]):
        assert low_a < high_a < low_b
        assert low_b / high_a >= 1.2, "a gap between neighbouring bands"
    assert bands[0][0] >= 250 and bands[-1][1] <= 0.4 * RATE_HZ
    assert source_band_hz(5) == source_band_hz(1)


@pytest.mark.parametrize("source_index", [0, 1, 2])
def test_intensity_vector_points_to_the_annotated_direction(moving_foa, source_index):
    filtered = band(moving_foa, source_index)
    margin = FRAME_SAMPLES // 10
    checked = 0
    for row in moving_rows():
        if row.source_index != source_index:
            continue
        chunk = filtered[row.frame * FRAME_SAMPLES + margin : (row.frame + 1) * FRAME_SAMPLES - margin]
        intensity = np.array([np.mean(chunk[:, W] * chunk[:, c]) for c in (X, Y, Z)])
        azimuth_deg = np.rad2deg(np.arctan2(intensity[1], intensity[0]))
        elevation_deg = np.rad2deg(np.arctan2(intensity[2], np.hypot(intensity[0], intensity[1])))
        assert abs((azimuth_deg - row.azimuth_deg + 180) % 360 - 180) < 2.0, row
        assert abs(elevation_deg - row.elevation_deg) < 2.0, row
        checked += 1
    assert checked >= 25


def test_a_source_is_silent_outside_its_annotated_frames(moving_foa):
    filtered = band(moving_foa, 1)[:, W]
    energy = (filtered[: 30 * FRAME_SAMPLES].reshape(30, FRAME_SAMPLES) ** 2).mean(axis=1)
    # Frames 10–14 unannotated; skip the frames next to them, where the 10 ms fades and the filter ring.
    assert energy[11:14].max() < 1e-4 * energy[np.r_[0:9, 16:30]].mean()


def test_source_at_plus_30_degrees_is_louder_in_the_left_channel():
    rows = [AnnotationRow(frame, 0, 0, 30.0, 0.0, 200.0) for frame in range(20)]
    stereo = mid_side_stereo(rotate_foa(synthesize_foa(rows, 2.0, rate_hz=RATE_HZ, seed=3), 0.0))
    left_energy, right_energy = (stereo.astype(np.float64) ** 2).sum(axis=0)
    # L = W (1 + sin 30°), R = W (1 − sin 30°): 9.5 dB.
    assert 10 * np.log10(left_energy / right_energy) == pytest.approx(10 * np.log10(9.0), abs=0.3)


def test_levels_are_quiet_like_starss_and_never_digitally_silent():
    rows = [r for r in synthetic_events(6.0, 0, 0)]
    foa = synthesize_foa(rows, 6.0, rate_hz=RATE_HZ, seed=1)
    assert foa.dtype == np.float32 and foa.shape == (6 * RATE_HZ, 4)
    for key in {(r.class_id, r.source_index) for r in rows}:
        alone = synthesize_foa([r for r in rows if (r.class_id, r.source_index) == key], 6.0, seed=1,
                               noise_floor_rms=0.0)
        active = alone[:, W] != 0
        rms = np.sqrt(np.mean(alone[active, W].astype(np.float64) ** 2))
        assert 1e-4 < rms < 8e-4, key
    silent = synthesize_foa([], 1.0, seed=1)
    assert np.all(np.abs(silent).max(axis=0) > 0)
    assert np.std(silent[:, W]) == pytest.approx(1e-5, rel=0.05)


def test_savgbench_gain_rarely_clips_synthetic_recordings():
    """+38 dB, mid-side stereo at the views SAVGBench uses: peak below 0.9999 for generated recordings."""
    for index in range(6):
        foa = synthesize_foa(synthetic_events(10.0, 2, index), 10.0, seed=index)
        prepared = prepare_foa(foa, RATE_HZ, 16000, highpass_hz=50.0, gain_db=38.0)
        # For a view at elevation 0, Y' = −X sin φ0 + Y cos φ0, so |W ± Y'| ≤ |W| + hypot(X, Y) for every view.
        bound = np.abs(prepared[:, W]) + np.hypot(prepared[:, X], prepared[:, Y])
        assert bound.max() < 0.9999, (index, bound.max())
        assert np.abs(prepared @ stereo_weights(90.0)).max() <= bound.max() + 1e-12


# ---------------------------------------------------------------------------------------------------------------
# (c) written dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("synth")
    return root, write_synthetic_dataset(root, SMALL)


EXPECTED_STEMS = {
    ("dev", "dev-train-synth"): "fold3_room90_mix001",
    ("dev", "dev-test-synth"): "fold4_room91_mix001",
    ("eval", "eval-synth"): "fold5_room92_mix001",
}


def test_dataset_has_the_starss23_layout(dataset):
    root, written = dataset
    expected = set()
    for (split, folder), stem in EXPECTED_STEMS.items():
        for kind, ext in (("foa", "wav"), ("video", "mp4"), ("metadata", "csv")):
            expected.add(f"{kind}_{split}/{folder}/{stem}.{ext}")
    found = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert found == expected, "exactly the recordings' files, no leftover temporary files"
    assert sorted(written) == sorted(f"{folder}/{stem}" for (_, folder), stem in EXPECTED_STEMS.items())


def test_written_csvs_read_back_as_the_generated_events(dataset):
    root, _ = dataset
    for index, ((split, folder), stem) in enumerate(EXPECTED_STEMS.items()):
        rows = read_annotations(root / f"metadata_{split}" / folder / f"{stem}.csv")
        assert rows == synthetic_events(SMALL.duration_s, SMALL.seed, index)
        assert all(r.distance_cm is not None for r in rows), "6-column STARSS23 rows"


def test_written_wav_is_foa_at_24k_with_the_right_duration(dataset):
    root, _ = dataset
    for (split, folder), stem in EXPECTED_STEMS.items():
        path = root / f"foa_{split}" / folder / f"{stem}.wav"
        info = sf.info(path)
        assert (info.channels, info.samplerate, info.frames) == (4, RATE_HZ, int(SMALL.duration_s * RATE_HZ))
        rows = read_annotations(root / f"metadata_{split}" / folder / f"{stem}.csv")
        foa, _ = sf.read(path)
        # The written file still points each source to its annotated direction (24-bit PCM is fine enough).
        talker = min((r.source_index for r in rows if r.class_id in SPEECH_CLASS_IDS), default=None)
        if talker is None:
            continue
        filtered = band(foa, talker)
        for row in [r for r in rows if r.source_index == talker][5:-5:4]:
            chunk = filtered[row.frame * FRAME_SAMPLES + 240 : (row.frame + 1) * FRAME_SAMPLES - 240]
            intensity = [np.mean(chunk[:, W] * chunk[:, c]) for c in (X, Y)]
            azimuth_deg = np.rad2deg(np.arctan2(intensity[1], intensity[0]))
            assert abs((azimuth_deg - row.azimuth_deg + 180) % 360 - 180) < 3.0


def test_written_mp4_decodes_at_the_requested_size_rate_and_duration(dataset):
    root, _ = dataset
    for (split, folder), stem in EXPECTED_STEMS.items():
        path = root / f"video_{split}" / folder / f"{stem}.mp4"
        info = probe_media(path)
        assert (info.width_px, info.height_px) == (SMALL.width_px, SMALL.height_px)
        assert info.fps == pytest.approx(float(SMALL.fps))
        assert info.duration_s == pytest.approx(SMALL.duration_s, abs=1.5 / float(SMALL.fps))
        frames = list(iter_video_frames(path, SMALL.width_px, SMALL.height_px))
        assert len(frames) == round(SMALL.duration_s * float(SMALL.fps))


def test_decoded_video_shows_sources_exactly_in_their_annotated_frames(dataset):
    """Each video frame shows its label frame: every source's sprite at its pixel, nothing when idle."""
    root, _ = dataset
    background = room_background(SMALL.width_px, SMALL.height_px).astype(int)
    for (split, folder), stem in EXPECTED_STEMS.items():
        rows = read_annotations(root / f"metadata_{split}" / folder / f"{stem}.csv")
        by_frame = {}
        for row in rows:
            by_frame.setdefault(row.frame, []).append(row)
        video = root / f"video_{split}" / folder / f"{stem}.mp4"
        for index, frame in enumerate(iter_video_frames(video, SMALL.width_px, SMALL.height_px)):
            shown = by_frame.get(label_frame_of_video_frame(index, SMALL.fps), [])
            change = np.abs(frame.astype(int) - background).max(axis=2)
            if not shown:
                assert np.percentile(change, 99.9) < 25, (stem, index)
            for row in shown:
                x_px, y_px = (int(v) for v in equirect_pixel(row.azimuth_deg, row.elevation_deg,
                                                            SMALL.width_px, SMALL.height_px))
                cols = np.arange(x_px - 3, x_px + 4) % SMALL.width_px
                assert change[y_px - 3 : y_px + 4][:, cols].max() > 40, (stem, index, row)


def test_same_seed_gives_identical_files(dataset, tmp_path):
    root, _ = dataset
    write_synthetic_dataset(tmp_path, SMALL)
    for (split, folder), stem in EXPECTED_STEMS.items():
        for kind, ext in (("foa", "wav"), ("metadata", "csv")):
            relative = Path(f"{kind}_{split}") / folder / f"{stem}.{ext}"
            assert (root / relative).read_bytes() == (tmp_path / relative).read_bytes(), relative


def test_other_seed_gives_other_recordings(dataset, tmp_path):
    root, _ = dataset
    other = SynthConfig(n_recordings=1, duration_s=SMALL.duration_s, seed=SMALL.seed + 1, width_px=320,
                        height_px=160, fps=Fraction(10))
    write_synthetic_dataset(tmp_path, other)
    relative = Path("metadata_dev/dev-train-synth/fold3_room90_mix001.csv")
    assert (root / relative).read_bytes() != (tmp_path / relative).read_bytes()


def test_recordings_are_distributed_round_robin_with_unique_stems(tmp_path):
    config = SynthConfig(n_recordings=5, duration_s=0.5, seed=1, width_px=128, height_px=64, fps=Fraction(10))
    written = write_synthetic_dataset(tmp_path, config)
    assert written == [
        "dev-train-synth/fold3_room90_mix001", "dev-test-synth/fold4_room91_mix001", "eval-synth/fold5_room92_mix001",
        "dev-train-synth/fold3_room90_mix002", "dev-test-synth/fold4_room91_mix002",
    ]
    stems = [p.stem for p in tmp_path.glob("foa_*/*/*.wav")]
    assert len(stems) == len(set(stems)) == 5


def test_cli_synth_subcommand(tmp_path, capsys):
    from flows.cli import main

    code = main(["synth", str(tmp_path), "--recordings", "1", "--duration-s", "1", "--width", "256", "--height",
                 "128", "--fps", "10"])
    assert code == 0
    assert (tmp_path / "video_dev/dev-train-synth/fold3_room90_mix001.mp4").is_file()
    assert "wrote 1 recordings" in capsys.readouterr().out


def test_config_rejects_odd_sizes_and_bad_durations():
    with pytest.raises(ValueError):
        SynthConfig(width_px=641, height_px=320)
    with pytest.raises(ValueError):
        SynthConfig(duration_s=0.0)


# ---------------------------------------------------------------------------------------------------------------
# (d) annotation-driven mode


def real_csv() -> Path:
    return starss22_sample() / "dev-train-sony" / "fold3_room21_mix001.csv"


def test_annotation_driven_mode_follows_real_trajectories(tmp_path):
    source = real_csv()
    annotations = tmp_path / "annotations"
    (annotations / "dev-train-sony").mkdir(parents=True)
    shutil.copy(source, annotations / "dev-train-sony" / source.name)
    config = SynthConfig(duration_s=4.0, seed=0, width_px=640, height_px=320, fps=Fraction(10))
    out = tmp_path / "out"
    written = write_synthetic_dataset(out, config, annotations_dir=annotations)

    assert written == [f"dev-train-sony/{source.stem}"]
    for kind, ext in (("foa", "wav"), ("video", "mp4"), ("metadata", "csv")):
        assert (out / f"{kind}_dev" / "dev-train-sony" / f"{source.stem}.{ext}").is_file()
    expected = sorted((r for r in read_annotations(source) if r.frame < 40),
                      key=lambda r: (r.frame, r.class_id, r.source_index))
    assert expected, "the sample file has events in its first 4 s"
    assert read_annotations(out / "metadata_dev" / "dev-train-sony" / f"{source.stem}.csv") == expected

    background = room_background(640, 320).astype(int)
    video = out / "video_dev" / "dev-train-sony" / f"{source.stem}.mp4"
    checked = 0
    for index, frame in enumerate(iter_video_frames(video, 640, 320)):
        label_frame = label_frame_of_video_frame(index, config.fps)
        change = np.abs(frame.astype(int) - background).max(axis=2)
        for row in (r for r in expected if r.frame == label_frame and r.class_id in SPEECH_CLASS_IDS):
            x_px, y_px = (int(v) for v in equirect_pixel(row.azimuth_deg, row.elevation_deg, 640, 320))
            cols = np.arange(x_px - 3, x_px + 4) % 640
            assert change[y_px - 3 : y_px + 4][:, cols].max() > 40, (index, row)
            checked += 1
    assert checked > 10


def test_annotation_driven_mode_keeps_sub_folders_and_eval_split(tmp_path):
    source = real_csv()
    annotations = tmp_path / "annotations"
    for folder in ("dev-test-sony", "eval-x"):
        (annotations / folder).mkdir(parents=True)
        shutil.copy(source, annotations / folder / "mixA.csv")
    config = SynthConfig(duration_s=1.5, width_px=128, height_px=64, fps=Fraction(10))
    written = write_synthetic_dataset(tmp_path / "out", config, annotations_dir=annotations)
    assert sorted(written) == ["dev-test-sony/mixA", "eval-x/mixA"]
    assert (tmp_path / "out/foa_dev/dev-test-sony/mixA.wav").is_file()
    assert (tmp_path / "out/video_eval/eval-x/mixA.mp4").is_file()
    assert (tmp_path / "out/metadata_eval/eval-x/mixA.csv").is_file()


# ---------------------------------------------------------------------------------------------------------------
# (e) "done when": a frame a person can look at, with the annotated directions marked


def angular_distance_deg(azimuth_deg, elevation_deg, to_azimuth_deg: float, to_elevation_deg: float) -> np.ndarray:
    cos = angles_to_unit(azimuth_deg, elevation_deg) @ angles_to_unit(to_azimuth_deg, to_elevation_deg)
    return np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0)))


def test_rendered_people_are_at_the_annotated_directions_and_nowhere_else():
    config = SynthConfig()
    width_px, height_px = config.width_px, config.height_px

    # The most telling picture: the label frame with the most people, then the most sources, at once.
    def richness(rows, frame):
        shown = [r for r in rows if r.frame == frame]
        return sum(r.class_id in PERSON_CLASS_IDS for r in shown), len(shown)

    candidates = [(synthetic_events(20.0, 0, index), frame) for index in range(8) for frame in range(0, 200, 5)]
    rows, label_frame = max(candidates, key=lambda candidate: richness(*candidate))
    shown = [r for r in rows if r.frame == label_frame]
    assert richness(rows, label_frame)[0] >= 2
    sprites = assign_sprites({(r.class_id, r.source_index) for r in rows}, seed=0)
    billboards = frame_billboards(shown, sprites, config.person_height_deg, config.shape_height_deg)
    background = room_background(width_px, height_px)
    frame = render_equirect_frame(background, billboards)

    marked = frame.copy()
    for row in shown:
        x_px, y_px = (int(v) for v in equirect_pixel(row.azimuth_deg, row.elevation_deg, width_px, height_px))
        cv2.drawMarker(marked, (x_px, y_px), (255, 0, 0), cv2.MARKER_CROSS, 24, 2)
        cv2.putText(marked, f"class {row.class_id} ({row.azimuth_deg:+.0f}, {row.elevation_deg:+.0f})",
                    (min(x_px + 14, width_px - 330), y_px - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 0, 0), 2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / "synth_frame_annotated.png"
    assert cv2.imwrite(str(png), cv2.cvtColor(marked, cv2.COLOR_RGB2BGR))
    assert png.stat().st_size > 10_000

    changed = np.abs(frame.astype(int) - background.astype(int)).max(axis=2) > 20
    for row in shown:
        x_px, y_px = equirect_pixel(row.azimuth_deg, row.elevation_deg, width_px, height_px)
        # Move the source to the middle column so that a sprite across the seam is one blob.
        shift = width_px // 2 - int(x_px)
        rolled = np.roll(changed, shift, axis=1).astype(np.uint8)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(rolled, connectivity=8)
        centre_x, centre_y = width_px // 2 + (float(x_px) - int(x_px)), float(y_px)
        around = labels[int(centre_y) - 3 : int(centre_y) + 4, width_px // 2 - 3 : width_px // 2 + 4]
        blob = np.bincount(around[around > 0]).argmax()
        left, top, blob_w, blob_h = stats[blob, :4]
        assert left <= centre_x <= left + blob_w and top <= centre_y <= top + blob_h, row
        if row.class_id in PERSON_CLASS_IDS:
            assert blob_h >= 0.5 * 40.0 * sprites[(row.class_id, row.source_index)].height_scale * height_px / 180

    # Nothing is drawn away from the annotated sources: every changed pixel lies within the angular radius (centre
    # to corner) of a billboard, plus a pixel for the interpolated edge.
    ys, xs = np.nonzero(changed)
    azimuth_deg, elevation_deg = equirect_angles(xs + 0.5, ys + 0.5, width_px, height_px)
    inside = np.zeros(xs.size, dtype=bool)
    for billboard in billboards:
        half_tan_v = np.tan(np.deg2rad(billboard.height_deg) / 2)
        aspect = billboard.sprite.rgba.shape[1] / billboard.sprite.rgba.shape[0]
        radius_deg = np.rad2deg(np.arctan(half_tan_v * np.hypot(1.0, aspect))) + 360.0 / width_px
        inside |= angular_distance_deg(azimuth_deg, elevation_deg, billboard.azimuth_deg,
                                       billboard.elevation_deg) <= radius_deg
    assert inside.all()
