"""Sprites for synthetic recordings: real people cut from the photos shipped with ultralytics, and drawn shapes.

A sprite is an RGBA uint8 image cropped to the bounding box of its alpha, so the image centre is the bounding-box
centre that the renderer puts on the source direction. People come from the photos in `ultralytics.utils.ASSETS`
(bus.jpg, zidane.jpg): real photographs, so a person detector run on the synthetic video sees real people. Each
person is cut with OpenCV GrabCut, initialised from a hand-measured box and a few hand-drawn hints, so that the
street or stadium behind them is not pasted into the room. Someone playing an instrument is one of those people
with the drawn instrument composited over the body (`player_sprite`).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

__all__ = ["Sprite", "person_sprites", "shape_sprite", "player_sprite", "ultralytics_assets_dir"]


@dataclass(frozen=True, eq=False)
class Sprite:
    """An RGBA uint8 image (height_px, width_px, 4) cropped to its alpha bounding box.

    `height_scale` is the sprite's height relative to the renderer's nominal height for its kind: 1.0 for a
    standing person seen head to toe, about 0.55 for a person cut at the waist, so heads come out the same size.
    """

    name: str
    rgba: np.ndarray
    height_scale: float = 1.0


Polygon = tuple[tuple[int, int], ...]


def _rect(x0_px: int, y0_px: int, x1_px: int, y1_px: int) -> Polygon:
    """An axis-aligned rectangle as a polygon (corners in image pixels)."""
    return ((x0_px, y0_px), (x1_px, y0_px), (x1_px, y1_px), (x0_px, y1_px))


@dataclass(frozen=True)
class _PersonCut:
    """Where one person is in one photo, in pixels of the original image (x to the right, y down).

    `box_px` = (x0, y0, x1, y1) bounds the person; `background_px` are polygons inside it that are someone or
    something else (GrabCut is told they are background); `foreground_px` are polygons that are surely this
    person (they anchor GrabCut where clothes and background have similar colours, e.g. shoes on grey pavement).
    """

    name: str
    photo: str
    box_px: tuple[int, int, int, int]
    background_px: tuple[Polygon, ...] = ()
    foreground_px: tuple[Polygon, ...] = ()
    height_scale: float = 1.0


# Measured on the images of the ultralytics wheel (bus.jpg 810×1080, zidane.jpg 1280×720). bus.jpg also has two
# people cut in half by the photo's left and right edges: they are left out.
_PEOPLE = (
    _PersonCut(
        "bus_beige_coat", "bus.jpg", (48, 394, 246, 906),
        background_px=(
            _rect(218, 394, 246, 856),  # the black-coated man's flank
            # Bollard, pavement and shadow between the legs and shoes.
            ((112, 714), (120, 714), (127, 760), (145, 800), (168, 856), (86, 856), (93, 800), (102, 760)),
            _rect(110, 856, 172, 906),
            # Another passer-by's hand and the pavement left of the left leg.
            ((48, 672), (57, 672), (58, 700), (77, 706), (76, 760), (66, 800), (58, 840), (52, 860), (48, 860)),
        ),
        foreground_px=(
            _rect(110, 420, 150, 460), _rect(90, 520, 180, 650),  # head, coat
            ((70, 700), (112, 700), (100, 850), (64, 850)), ((145, 700), (180, 700), (196, 850), (170, 850)),
            _rect(60, 862, 100, 890), _rect(186, 862, 236, 890),  # shoes
        ),
    ),
    _PersonCut(
        "bus_black_coat", "bus.jpg", (221, 401, 347, 863),
        background_px=(_rect(221, 401, 255, 466),),  # dark bus window beside the head
        foreground_px=(
            _rect(262, 420, 292, 455), _rect(240, 520, 300, 660),  # head, coat
            _rect(256, 720, 290, 826), _rect(262, 832, 290, 856), _rect(284, 786, 298, 810),  # legs, shoes
        ),
    ),
    _PersonCut(
        "zidane", "zidane.jpg", (118, 198, 1156, 720),
        background_px=(
            # Ancelotti, behind the pointing arm: all of him above and below the sleeve and hand.
            ((752, 198), (1156, 198), (1156, 398), (1100, 400), (975, 404), (930, 418), (752, 410)),
            ((760, 514), (925, 508), (960, 505), (1000, 496), (1090, 492), (1156, 476), (1156, 720), (760, 720)),
        ),
        foreground_px=(
            _rect(500, 230, 620, 330), _rect(250, 430, 600, 700),  # head, body
            ((700, 430), (925, 440), (925, 488), (700, 492)),  # sleeve
            _rect(985, 440, 1070, 470), _rect(1060, 412, 1130, 422),  # hand, pointing finger
        ),
        height_scale=0.6,
    ),
    _PersonCut(
        "ancelotti", "zidane.jpg", (748, 36, 1146, 720),
        foreground_px=(_rect(920, 90, 1030, 230), _rect(800, 520, 1050, 700)),  # head, body
        height_scale=0.6,
    ),
)

# GrabCut runs on a downscaled crop: its result is only a mask, and the full-resolution cut-out is softened anyway.
_GRABCUT_MAX_SIDE_PX = 400
_GRABCUT_ITERATIONS = 5


def ultralytics_assets_dir() -> Path:
    """The folder `ultralytics.utils.ASSETS` names (the wheel's sample photos), found without importing it.

    Importing `ultralytics.utils` imports torch (seconds and about 0.9 GB) and writes a settings file; the photos
    are plain files inside the installed package, so locating the package is enough.
    """
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("ultralytics is not installed: the person sprites come from its sample photos")
    return Path(spec.submodule_search_locations[0]) / "assets"


@lru_cache(maxsize=1)
def person_sprites() -> tuple[Sprite, ...]:
    """The cut-out people, in a fixed order (computed once per process; deterministic)."""
    assets = ultralytics_assets_dir()
    photos: dict[str, np.ndarray] = {}
    sprites = []
    for cut in _PEOPLE:
        if cut.photo not in photos:
            bgr = cv2.imread(str(assets / cut.photo), cv2.IMREAD_COLOR)
            if bgr is None:
                raise FileNotFoundError(f"{assets / cut.photo}: cannot read the ultralytics sample photo")
            photos[cut.photo] = bgr
        sprites.append(_cut_person(photos[cut.photo], cut))
    return tuple(sprites)


def _cut_person(photo_bgr: np.ndarray, cut: _PersonCut) -> Sprite:
    """GrabCut one person out of a photo and return it cropped to its alpha."""
    height_px, width_px = photo_bgr.shape[:2]
    x0, y0, x1, y1 = cut.box_px
    # A margin around the box gives GrabCut background samples to learn the colours it must reject.
    margin_px = max(x1 - x0, y1 - y0) // 10
    cx0, cy0 = max(0, x0 - margin_px), max(0, y0 - margin_px)
    cx1, cy1 = min(width_px, x1 + margin_px), min(height_px, y1 + margin_px)
    crop = photo_bgr[cy0:cy1, cx0:cx1]

    mask = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    mask[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] = cv2.GC_PR_FGD
    for polygons, label in ((cut.background_px, cv2.GC_BGD), (cut.foreground_px, cv2.GC_FGD)):
        for polygon in polygons:
            points = np.array(polygon, np.int32) - np.array([cx0, cy0], np.int32)
            cv2.fillPoly(mask, [points], int(label))

    scale = min(1.0, _GRABCUT_MAX_SIDE_PX / max(crop.shape[:2]))
    small_size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
    small = cv2.resize(crop, small_size, interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask, small_size, interpolation=cv2.INTER_NEAREST)
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models with k-means on OpenCV's global RNG: fix it so every run cuts the same mask.
    cv2.setRNGSeed(0)
    cv2.grabCut(small, small_mask, None, background_model, foreground_model, _GRABCUT_ITERATIONS,
                cv2.GC_INIT_WITH_MASK)
    foreground = np.isin(small_mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    foreground = _largest_component(_clean_mask(foreground))

    # Back to full resolution with a soft edge (about one small-scale pixel) so the cut does not look jagged.
    alpha = cv2.resize(foreground.astype(np.float32), (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR)
    sigma_px = 0.5 / scale
    alpha = cv2.GaussianBlur(alpha, (0, 0), sigma_px)
    # Steepen the blurred ramp back to about one GrabCut pixel: soft, but no halo of the photo's background.
    alpha = np.clip((alpha - 0.5) * 2.0 + 0.5, 0.0, 1.0)
    rgba = np.dstack([cv2.cvtColor(crop, cv2.COLOR_BGR2RGB), np.round(alpha * 255.0).astype(np.uint8)])
    return Sprite(cut.name, _crop_to_alpha(rgba), cut.height_scale)


def _clean_mask(mask: np.ndarray) -> np.ndarray:
    """Remove specks and close pinholes in a binary mask (small-scale pixels)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    opened = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    return cv2.morphologyEx(opened, cv2.MORPH_CLOSE, kernel)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep only the largest 8-connected blob of a binary mask: stray background patches GrabCut kept go away."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return mask
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (labels == largest).astype(np.uint8)


def _crop_to_alpha(rgba: np.ndarray) -> np.ndarray:
    """Crop an RGBA image to the bounding box of its non-zero alpha."""
    rows = np.flatnonzero(rgba[..., 3].any(axis=1))
    cols = np.flatnonzero(rgba[..., 3].any(axis=0))
    if rows.size == 0:
        raise ValueError("sprite has no opaque pixel")
    return np.ascontiguousarray(rgba[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])


# Shapes are drawn at this many times their final size and shrunk with area averaging: cheap anti-aliasing.
_SUPERSAMPLE = 4
_SHAPE_SIZE_PX = 160


def _canvas(width_px: int, height_px: int) -> np.ndarray:
    return np.zeros((height_px * _SUPERSAMPLE, width_px * _SUPERSAMPLE, 4), np.uint8)


def _pt(x_px: float, y_px: float) -> tuple[int, int]:
    """A point given in final-size pixels, on the supersampled canvas."""
    return round(x_px * _SUPERSAMPLE), round(y_px * _SUPERSAMPLE)


def _len(length_px: float) -> int:
    return max(1, round(length_px * _SUPERSAMPLE))


def _poly(canvas: np.ndarray, points, colour) -> None:
    cv2.fillPoly(canvas, [np.array([_pt(x, y) for x, y in points], np.int32)], colour, cv2.LINE_AA)


def _draw_guitar(c: np.ndarray) -> None:
    """An acoustic guitar, tilted: amber body, dark sound hole, brown neck, pale strings."""
    amber, brown, dark, pale = (235, 150, 30, 255), (110, 60, 20, 255), (50, 25, 10, 255), (240, 230, 200, 255)
    cv2.ellipse(c, _pt(52, 150), (_len(42), _len(40)), 0, 0, 360, amber, -1, cv2.LINE_AA)
    cv2.ellipse(c, _pt(60, 100), (_len(31), _len(30)), 0, 0, 360, amber, -1, cv2.LINE_AA)
    cv2.ellipse(c, _pt(52, 150), (_len(42), _len(40)), 0, 0, 360, brown, _len(3), cv2.LINE_AA)
    _poly(c, [(58, 110), (70, 112), (96, 12), (86, 9)], brown)
    _poly(c, [(84, 12), (100, 15), (104, 0), (90, -2)], dark)
    cv2.circle(c, _pt(60, 112), _len(13), dark, -1, cv2.LINE_AA)
    _poly(c, [(34, 160), (70, 168), (71, 162), (35, 154)], dark)
    for offset_px in (-3.0, 0.0, 3.0):
        cv2.line(c, _pt(52 + offset_px, 160), _pt(92 + offset_px, 8), pale, _len(0.8), cv2.LINE_AA)


def _draw_bell(c: np.ndarray) -> None:
    gold, dark = (230, 190, 40, 255), (120, 90, 20, 255)
    _poly(c, [(40, 20), (80, 20), (92, 70), (118, 110), (2, 110), (28, 70)], gold)
    cv2.ellipse(c, _pt(60, 22), (_len(20), _len(14)), 0, 180, 360, gold, -1, cv2.LINE_AA)
    cv2.circle(c, _pt(60, 120), _len(10), dark, -1, cv2.LINE_AA)
    cv2.circle(c, _pt(60, 6), _len(6), dark, _len(3), cv2.LINE_AA)


def _draw_phone(c: np.ndarray) -> None:
    red, dark, white = (200, 30, 40, 255), (70, 10, 15, 255), (240, 240, 240, 255)
    _poly(c, [(10, 60), (110, 60), (118, 110), (2, 110)], red)
    cv2.rectangle(c, _pt(48, 28), _pt(72, 62), dark, -1, cv2.LINE_AA)  # cradle: one solid shape, no hole
    cv2.ellipse(c, _pt(60, 40), (_len(58), _len(20)), 0, 180, 360, dark, _len(14), cv2.LINE_AA)
    cv2.circle(c, _pt(60, 85), _len(16), white, -1, cv2.LINE_AA)
    cv2.circle(c, _pt(60, 85), _len(6), dark, -1, cv2.LINE_AA)


def _draw_footprint(c: np.ndarray) -> None:
    ink = (70, 55, 130, 255)
    cv2.ellipse(c, _pt(40, 46), (_len(28), _len(42)), 0, 0, 360, ink, -1, cv2.LINE_AA)
    cv2.ellipse(c, _pt(40, 104), (_len(22), _len(24)), 0, 0, 360, ink, -1, cv2.LINE_AA)


def _draw_star(colour, n_points: int):
    def draw(c: np.ndarray) -> None:
        step_deg = 180.0 / n_points
        angles_rad = np.deg2rad(np.arange(2 * n_points) * step_deg - 90.0)
        radii_px = np.where(np.arange(2 * n_points) % 2 == 0, 58.0, 30.0)
        _poly(c, list(zip(60 + radii_px * np.cos(angles_rad), 60 + radii_px * np.sin(angles_rad))), colour)

    return draw


def _draw_door(c: np.ndarray) -> None:
    # Painted teal, so it stands out from the room's own wooden door.
    paint, trim, knob = (40, 120, 130, 255), (25, 80, 90, 255), (220, 190, 80, 255)
    cv2.rectangle(c, _pt(0, 0), _pt(60, 120), paint, -1, cv2.LINE_AA)
    cv2.rectangle(c, _pt(8, 8), _pt(52, 52), trim, _len(3), cv2.LINE_AA)
    cv2.rectangle(c, _pt(8, 64), _pt(52, 112), trim, _len(3), cv2.LINE_AA)
    cv2.circle(c, _pt(48, 60), _len(4), knob, -1, cv2.LINE_AA)


def _draw_note(c: np.ndarray) -> None:
    violet = (120, 40, 170, 255)
    cv2.ellipse(c, _pt(26, 98), (_len(22), _len(16)), -20, 0, 360, violet, -1, cv2.LINE_AA)
    cv2.rectangle(c, _pt(40, 10), _pt(48, 96), violet, -1, cv2.LINE_AA)
    _poly(c, [(44, 10), (80, 30), (80, 48), (44, 30)], violet)


def _draw_drop(c: np.ndarray) -> None:
    blue = (40, 120, 220, 255)
    cv2.circle(c, _pt(40, 80), _len(38), blue, -1, cv2.LINE_AA)
    _poly(c, [(40, 0), (76, 66), (4, 66)], blue)


def _draw_house(c: np.ndarray) -> None:
    _poly(c, [(60, 0), (120, 50), (104, 50), (104, 110), (16, 110), (16, 50), (0, 50)], (90, 110, 160, 255))
    cv2.rectangle(c, _pt(48, 70), _pt(72, 110), (40, 50, 80, 255), -1, cv2.LINE_AA)


def _draw_bubble(colour):
    def draw(c: np.ndarray) -> None:
        cv2.ellipse(c, _pt(60, 45), (_len(58), _len(42)), 0, 0, 360, colour, -1, cv2.LINE_AA)
        _poly(c, [(30, 70), (50, 80), (18, 110)], colour)

    return draw




def _draw_diamond(c: np.ndarray) -> None:
    _poly(c, [(50, 0), (100, 60), (50, 120), (0, 60)], (40, 140, 80, 255))


# class id → (drawing, canvas width, canvas height in final pixels at 120 px nominal, height_scale).
_SHAPES = {
    0: (_draw_bubble((220, 60, 160, 255)), 120, 112, 1.0),
    1: (_draw_bubble((60, 90, 220, 255)), 120, 112, 1.0),
    2: (_draw_star((240, 210, 40, 255), 5), 120, 120, 1.0),
    3: (_draw_phone, 120, 112, 1.0),
    4: (_draw_star((240, 120, 30, 255), 8), 120, 120, 1.0),
    5: (_draw_house, 120, 112, 1.0),
    6: (_draw_footprint, 80, 130, 1.0),
    7: (_draw_door, 62, 122, 1.4),
    8: (_draw_note, 82, 122, 1.0),
    9: (_draw_guitar, 110, 196, 1.5),
    10: (_draw_drop, 80, 120, 1.0),
    11: (_draw_bell, 120, 132, 1.0),
    12: (_draw_diamond, 102, 122, 1.0),
}


@lru_cache(maxsize=None)
def shape_sprite(class_id: int) -> Sprite:
    """A drawn, clearly non-human sprite for a STARSS class id (0–12); class 9 (instrument) is an amber guitar.

    Every class has its own shape and colour. Raises KeyError for an unknown class id.
    """
    draw, width_px, height_px, height_scale = _SHAPES[class_id]
    canvas = _canvas(width_px, height_px)
    draw(canvas)
    # Area-averaging premultiplied colour keeps anti-aliased edges free of dark fringes.
    size = (width_px * _SHAPE_SIZE_PX // 120, height_px * _SHAPE_SIZE_PX // 120)
    small = cv2.resize(_premultiplied(canvas), size, interpolation=cv2.INTER_AREA)
    return Sprite(f"shape_class{class_id}", _crop_to_alpha(_unpremultiplied(small)), height_scale)


# A guitar is about 1 m long and a standing person about 1.8 m: the instrument's longer side, as a fraction of the
# height of the person standing (a person cut at the waist has height_scale of it).
_INSTRUMENT_TO_STANDING_HEIGHT = 0.5
# Held across the body: the drawn guitar is turned this much further clockwise, neck up towards the viewer's right.
_INSTRUMENT_TILT_DEG = 35.0


@lru_cache(maxsize=None)
def player_sprite(person: Sprite, instrument: Sprite) -> Sprite:
    """`person` playing `instrument`: the instrument, tilted across the body, composited in front of the person.

    The instrument's alpha centroid (its body) sits in front of the person's belly: a little below the middle of a
    standing person (near the bottom of one cut at the waist), in the middle of the body's width at that height.
    It is cut to the person's bounding box, so the sprite keeps the person's size, `height_scale` and bounding-box
    centre (the point the renderer puts on the source direction); its alpha is the union of the person's and the
    instrument's.
    """
    rgba = person.rgba
    height_px, width_px = rgba.shape[:2]
    inst = instrument.rgba
    # Rotate on a square canvas large enough for any angle, then scale the longer side to its size on the person.
    side_px = int(math.ceil(math.hypot(*inst.shape[:2])))
    canvas = np.zeros((side_px, side_px, 4), np.float32)
    top, left = (side_px - inst.shape[0]) // 2, (side_px - inst.shape[1]) // 2
    canvas[top : top + inst.shape[0], left : left + inst.shape[1]] = _premultiplied(inst)
    length_px = _INSTRUMENT_TO_STANDING_HEIGHT * height_px / person.height_scale
    rotation = cv2.getRotationMatrix2D((side_px / 2.0, side_px / 2.0), -_INSTRUMENT_TILT_DEG,
                                       length_px / max(inst.shape[:2]))
    # Translate so that the rotated instrument's alpha centroid lands on the belly.
    centroid_x, centroid_y = _alpha_centroid(canvas[..., 3])
    rotation[:, 2] += np.array(_belly_px(rgba[..., 3], person.height_scale)) - rotation @ (centroid_x, centroid_y, 1.0)
    over = cv2.warpAffine(canvas, rotation, (width_px, height_px), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0.0, 0.0, 0.0, 0.0))
    under = _premultiplied(rgba)
    composite = over + under * (1.0 - over[..., 3:4])
    return Sprite(f"{person.name}_with_{instrument.name}", _unpremultiplied(composite), person.height_scale)


# The belly of a standing person, as a fraction of their height from the top of the head; and the lowest it may
# be put in a sprite of a person cut at the waist, as a fraction of the sprite's height.
_BELLY_FROM_TOP = 0.55
_LOWEST_BELLY = 0.85


def _belly_px(alpha: np.ndarray, height_scale: float) -> tuple[float, float]:
    """(x, y) in sprite pixels (continuous, from the top-left corner) of the belly of a person sprite's alpha."""
    height_px = alpha.shape[0]
    y_px = min(_BELLY_FROM_TOP / height_scale, _LOWEST_BELLY) * height_px
    band = alpha[max(0, int(y_px - 0.05 * height_px)) : int(y_px + 0.05 * height_px) + 1]
    x_px, _ = _alpha_centroid(band)
    return x_px, y_px


def _alpha_centroid(alpha: np.ndarray) -> tuple[float, float]:
    """Alpha-weighted centroid (x, y) of an alpha image, in continuous pixels (pixel i centred at i + 0.5)."""
    ys, xs = np.nonzero(alpha)
    weights = alpha[ys, xs].astype(np.float64)
    return float(np.average(xs, weights=weights)) + 0.5, float(np.average(ys, weights=weights)) + 0.5


def _premultiplied(rgba: np.ndarray) -> np.ndarray:
    """float32 (H, W, 4): colour times alpha in [0, 255], alpha in [0, 1]."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    return np.concatenate([rgba[..., :3].astype(np.float32) * alpha, alpha], axis=-1)


def _unpremultiplied(premultiplied: np.ndarray) -> np.ndarray:
    """The uint8 RGBA of a premultiplied float image (`_premultiplied`'s inverse, rounded)."""
    alpha = premultiplied[..., 3:4]
    rgb = np.where(alpha > 0, premultiplied[..., :3] / np.maximum(alpha, 1e-6), 0.0)
    return np.round(np.clip(np.concatenate([rgb, alpha * 255.0], axis=-1), 0, 255)).astype(np.uint8)
