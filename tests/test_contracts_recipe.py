"""The recipe: SAVGBench defaults, loading and --set overrides, validation messages, and the stable hash."""

import dataclasses
import json
import math
import os
import re
import subprocess
import sys

import pytest
import yaml

from data_contracts import ContractError, Recipe, dump_recipe_yaml, load_recipe
from tests.helpers import PROJECT_ROOT, assert_file_refused, refused


def test_defaults_are_the_savgbench_recipe():
    recipe = Recipe()
    assert recipe.window_frames == 50 and recipe.window_s == 5.0
    assert recipe.hop_frames == 5 and recipe.hop_s == 0.5
    assert recipe.view_azimuths_deg == tuple(float(10 * k) for k in range(36))
    assert all(type(azimuth) is float for azimuth in recipe.view_azimuths_deg)
    assert recipe.view_elevations_deg == (0.0,)
    assert len(recipe.view_azimuths_deg) * len(recipe.view_elevations_deg) == 36
    assert recipe.h_fov_deg == 100.0
    assert recipe.v_fov_deg == pytest.approx(67.67, abs=0.005)
    assert recipe.v_fov_deg == pytest.approx(math.degrees(2 * math.atan(math.tan(math.radians(50)) * 144 / 256)))
    assert (recipe.content_width, recipe.content_height, recipe.frame_width, recipe.frame_height) == (
        256,
        144,
        256,
        256,
    )
    assert recipe.fps == 4 and recipe.frames_per_clip == 20
    assert recipe.audio_rate == 16000 and recipe.samples_per_clip == 80_000
    assert recipe.highpass_hz == 50.0 and recipe.gain_db == 38.0
    assert recipe.class_map_dict() == {0: "speech", 1: "speech", 9: "instrument"}
    assert recipe.min_onscreen_frames == 40
    assert recipe.max_views_per_window is None
    assert recipe.clip_peak_limit == 0.9999
    assert recipe.max_av_mismatch_s == 1.0 and recipe.max_video_gap_s == 1.0
    assert recipe.split_rules_dict() == {"generation": ("dev-*",), "evaluation": ("eval*",)}
    # The selection policies are all off.
    assert (recipe.min_view_separation_deg, recipe.min_clip_gap_frames, recipe.max_clips_per_source_hour,
            recipe.class_balance, recipe.class_balance_dict()) == (None, None, None, None, None)


def test_recipe_is_frozen_and_hashable():
    recipe = Recipe()
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.h_fov_deg = 90.0
    assert {recipe: "x"}[Recipe()] == "x"


def test_load_recipe_without_source_gives_the_defaults():
    assert load_recipe() == Recipe()


def test_set_overrides_parse_as_yaml():
    recipe = load_recipe(
        overrides=[
            "view_azimuths_deg=[-90,0,90]",
            "view_elevations_deg=[-30, 0, 30]",
            "max_views_per_window=null",
            "class_map={0: speech, 9: instrument}",
            "h_fov_deg=90",
            "split_rules={generation: [dev-train-*], evaluation: eval*}",
            "gain_db = -6.5",
        ]
    )
    assert recipe.view_azimuths_deg == (-90.0, 0.0, 90.0)
    assert recipe.view_elevations_deg == (-30.0, 0.0, 30.0)
    assert recipe.max_views_per_window is None
    assert recipe.class_map_dict() == {0: "speech", 9: "instrument"}
    assert recipe.h_fov_deg == 90.0 and type(recipe.h_fov_deg) is float
    assert recipe.split_rules_dict() == {"generation": ("dev-train-*",), "evaluation": ("eval*",)}
    assert recipe.gain_db == -6.5


def test_later_overrides_win_and_a_mapping_works_too():
    assert load_recipe(overrides=["max_views_per_window=2", "max_views_per_window=3"]).max_views_per_window == 3
    assert load_recipe(overrides={"max_views_per_window": 3}) == load_recipe(overrides=["max_views_per_window=3"])


def test_yaml_file_then_overrides(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("h_fov_deg: 90\nmin_onscreen_frames: 30\n")
    recipe = load_recipe(path, overrides=["min_onscreen_frames=20"])
    assert (recipe.h_fov_deg, recipe.min_onscreen_frames) == (90.0, 20)
    assert load_recipe(str(path)).min_onscreen_frames == 30


def test_dump_then_load_gives_the_same_recipe_and_hash(tmp_path):
    recipe = load_recipe(overrides=["view_azimuths_deg=[-12.5, 0, 12.5]", "max_views_per_window=4"])
    path = tmp_path / "recipe.yaml"
    dump_recipe_yaml(recipe, path)
    assert path.read_text().startswith(f"# recipe_hash: {recipe.recipe_hash}\n")
    assert load_recipe(path) == recipe
    assert load_recipe(path).recipe_hash == recipe.recipe_hash
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.yaml"]


def test_to_dict_is_plain_json_and_loads_back():
    recipe = Recipe()
    as_dict = recipe.to_dict()
    assert as_dict["view_azimuths_deg"][:3] == [0.0, 10.0, 20.0]
    assert as_dict["class_map"] == {0: "speech", 1: "speech", 9: "instrument"}
    assert as_dict["split_rules"] == {"evaluation": ["eval*"], "generation": ["dev-*"]}
    # JSON turns the integer class ids into strings; loading must still give the same recipe.
    assert load_recipe(json.loads(json.dumps(as_dict))) == recipe
    assert load_recipe(yaml.safe_load(yaml.safe_dump(as_dict))) == recipe


BAD_OVERRIDES = {
    "unknown key": (["colour=red"], "recipe override: unknown key 'colour'='red'"),
    "misspelt key": (["h_fov=90"], "recipe override: unknown key 'h_fov'=90; did you mean 'h_fov_deg'?"),
    "non-numeric value": (["h_fov_deg=wide"], "recipe: h_fov_deg='wide': expected a finite number"),
    "boolean for a count": (["fps=true"], "recipe: fps=True: expected an integer"),
    "fractional count": (["window_frames=2.5"], "recipe: window_frames=2.5: expected an integer"),
    "empty value": (["gain_db="], "recipe: gain_db=None: expected a finite number"),
    "h_fov zero": (["h_fov_deg=0"], "recipe: h_fov_deg=0.0: must be in (0, 180) degrees"),
    "h_fov 180": (["h_fov_deg=180"], "recipe: h_fov_deg=180.0: must be in (0, 180) degrees"),
    "zero content width": (["content_width=0"], "recipe: content_width=0: must be > 0"),
    "negative content height": (["content_height=-144"], "recipe: content_height=-144: must be > 0"),
    "content wider than frame": (["content_width=320"], "recipe: content_width=320: is larger than frame_width=256"),
    "content taller than frame": (
        ["content_height=300"],
        "recipe: content_height=300: is larger than frame_height=256",
    ),
    "no azimuths": (["view_azimuths_deg=[]"], "recipe: view_azimuths_deg=(): no views: the list is empty"),
    "no elevations": (["view_elevations_deg=[]"], "recipe: view_elevations_deg=(): no views: the list is empty"),
    "azimuth list not a list": (["view_azimuths_deg=10"], "recipe: view_azimuths_deg=10: expected a list of angles"),
    "azimuth 360": (["view_azimuths_deg=[0, 360]"], "recipe: view_azimuths_deg=(0.0, 360.0): azimuth 360 is outside"),
    "azimuth -181": (["view_azimuths_deg=[-181]"], "recipe: view_azimuths_deg=(-181.0,): azimuth -181 is outside"),
    "elevation 91": (
        ["view_elevations_deg=[0, 91]"],
        "recipe: view_elevations_deg=(0.0, 91.0): elevation 91 is outside",
    ),
    "non-numeric azimuth": (["view_azimuths_deg=[0, left]"], "recipe: view_azimuths_deg='left': expected a finite"),
    "duplicate azimuth": (
        ["view_azimuths_deg=[0, 10, 0]"],
        "recipe: view_azimuths_deg=(0.0, 10.0, 0.0): azimuth 0 dup",
    ),
    "same view on the circle": (
        ["view_azimuths_deg=[-10, 350]"],
        "recipe: view_azimuths_deg=(-10.0, 350.0): azimuth 350 duplicates -10 (same view)",
    ),
    "duplicate elevation": (["view_elevations_deg=[5, 5]"], "recipe: view_elevations_deg=(5.0, 5.0): duplicate"),
    "zero window": (["window_frames=0", "min_onscreen_frames=0"], "recipe: window_frames=0: must be > 0"),
    "negative hop": (["hop_frames=-5"], "recipe: hop_frames=-5: must be > 0"),
    "min onscreen above window": (["min_onscreen_frames=51"], "recipe: min_onscreen_frames=51: must be in [0, window"),
    "negative min onscreen": (["min_onscreen_frames=-1"], "recipe: min_onscreen_frames=-1: must be in [0, window_"),
    "zero views per window": (["max_views_per_window=0"], "recipe: max_views_per_window=0: must be >= 1"),
    "unknown class id": (["class_map={13: speech}"], "recipe: class_map: class id 13 is not a STARSS23 class"),
    "unknown target": (["class_map={0: music}"], "recipe: class_map: 0='music': target must be one of"),
    "no target classes": (["class_map={}"], "recipe: class_map=(): no classes of interest"),
    "class map not a mapping": (["class_map=speech"], "recipe: class_map='speech': expected a mapping"),
    "unknown split": (["split_rules={train: [dev-*]}"], "recipe: split_rules: split 'train' is not one of"),
    "empty split pattern": (
        ["split_rules={generation: ['']}"],
        "recipe: split_rules: generation=['']: expected a list",
    ),
    "fractional video frames": (
        ["window_frames=45", "fps=3"],
        "recipe: fps=3: window_s * fps = 4.5 s * 3 is not a whole number of video frames",
    ),
    "fractional samples": (
        ["window_frames=45", "fps=2", "audio_rate=11025"],
        "recipe: audio_rate=11025: window_s * audio_rate = 4.5 s * 11025 is not whole samples",
    ),
    "zero fps": (["fps=0"], "recipe: fps=0: must be > 0"),
    "high-pass above Nyquist": (
        ["highpass_hz=8000"],
        "recipe: highpass_hz=8000.0: must be in (0, audio_rate / 2 = 8000)",
    ),
    "peak limit zero": (["clip_peak_limit=0"], "recipe: clip_peak_limit=0.0: must be in (0, 1]"),
    "peak limit above full scale": (["clip_peak_limit=1.5"], "recipe: clip_peak_limit=1.5: must be in (0, 1]"),
    "verify not a boolean": (["verify=1"], "recipe: verify=1: expected true or false"),
    "no detector weights": (["detector_weights=''"], "recipe: detector_weights='': expected a model file or name"),
    "score threshold 1": (["detector_score_threshold=1"], "recipe: detector_score_threshold=1.0: must be in [0, 1)"),
    "detector size off stride": (
        ["detector_image_size_px=300"],
        "recipe: detector_image_size_px=300: must be a positive multiple of 32",
    ),
    "no person class": (["detector_person_classes=[]"], "recipe: detector_person_classes=[]: no class would count"),
    "person class not a name": (["detector_person_classes=[1]"], "recipe: detector_person_classes=[1]: expected a"),
    "confirmation filter without verify": (
        ["min_visual_confirmation=0.5"],
        "recipe: min_visual_confirmation=0.5: needs verify=true",
    ),
    "confirmation above 1": (
        ["verify=true", "min_visual_confirmation=1.5"],
        "recipe: min_visual_confirmation=1.5: must be in [0, 1]",
    ),
    "view separation zero": (
        ["min_view_separation_deg=0"],
        "recipe: min_view_separation_deg=0.0: must be in (0, 180] degrees (or null for no separation)",
    ),
    "view separation above 180": (["min_view_separation_deg=190"], "recipe: min_view_separation_deg=190.0: must be in"),
    "view separation not a number": (
        ["min_view_separation_deg=wide"],
        "recipe: min_view_separation_deg='wide': expected a finite number",
    ),
    "clip gap zero": (["min_clip_gap_frames=0"], "recipe: min_clip_gap_frames=0: must be >= 1 label frame"),
    "fractional clip gap": (["min_clip_gap_frames=2.5"], "recipe: min_clip_gap_frames=2.5: expected an integer"),
    "budget zero": (["max_clips_per_source_hour=0"], "recipe: max_clips_per_source_hour=0.0: must be > 0"),
    "negative budget": (["max_clips_per_source_hour=-700"], "recipe: max_clips_per_source_hour=-700.0: must be > 0"),
    "infinite budget": (["max_clips_per_source_hour=.inf"], "recipe: max_clips_per_source_hour=inf: expected a"),
    "class balance not a mapping": (
        ["class_balance=speech"],
        "recipe: class_balance='speech': expected a mapping of target class to weight",
    ),
    "class balance of an unknown class": (
        ["class_balance={speech: 2, instrument: 1, music: 1}"],
        "recipe: class_balance={'instrument': 1.0, 'music': 1.0, 'speech': 2.0}: 'music' is not a target class of "
        "class_map (instrument, speech)",
    ),
    "class balance of a class outside class_map": (
        ["class_map={0: speech}", "class_balance={speech: 2, instrument: 1}"],
        "recipe: class_balance={'instrument': 1.0, 'speech': 2.0}: 'instrument' is not a target class of class_map",
    ),
    "class balance missing a class": (
        ["class_balance={speech: 2}"],
        "recipe: class_balance={'speech': 2.0}: no weight for target class 'instrument'",
    ),
    "class balance zero weight": (
        ["class_balance={speech: 2, instrument: 0}"],
        "recipe: class_balance={'instrument': 0.0, 'speech': 2.0}: the weight of 'instrument' must be > 0",
    ),
    "class balance weight not a number": (
        ["class_balance={speech: many, instrument: 1}"],
        "recipe: class_balance: speech='many': expected a finite number",
    ),
    "class balance key not a name": (["class_balance={0: 1}"], "recipe: class_balance: 0: expected a target class"),
    "override without =": (["h_fov_deg"], "recipe override 'h_fov_deg': expected key=value"),
    "override not valid YAML": (
        ["class_map={0: [speech"],
        "recipe override class_map='{0: [speech': value is not valid",
    ),
}


@pytest.mark.parametrize(("overrides", "message"), BAD_OVERRIDES.values(), ids=BAD_OVERRIDES.keys())
def test_bad_recipe_raises_naming_the_key_and_value(overrides, message):
    with refused(message):
        load_recipe(overrides=overrides)


def test_one_override_string_is_not_taken_for_a_list_of_characters():
    with pytest.raises(ContractError, match=re.escape("recipe overrides: 'fps=4': expected a list of key=value")):
        load_recipe(overrides="fps=4")


def test_building_a_recipe_in_code_is_validated_too():
    with pytest.raises(ContractError, match=re.escape("recipe: h_fov_deg=200.0: must be in (0, 180) degrees")):
        Recipe(h_fov_deg=200)
    with pytest.raises(ContractError, match=re.escape("recipe: h_fov_deg=180.0: must be in (0, 180) degrees")):
        dataclasses.replace(Recipe(h_fov_deg=100), h_fov_deg=180)


def test_bad_recipe_file_errors_name_the_file(tmp_path):
    assert_file_refused(tmp_path / "missing.yaml", None, load_recipe, "cannot read recipe")
    assert_file_refused(tmp_path / "list.yaml", "- 1\n- 2\n", load_recipe, "recipe must be a mapping")
    assert_file_refused(tmp_path / "unknown.yaml", "h_fov_deg: 90\nwindow: 50\n", load_recipe,
                        "unknown key 'window'=50")


def test_an_empty_recipe_file_means_the_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing changed\n")
    assert load_recipe(path) == Recipe()


def test_recipe_hash_is_16_hex_digits_and_equal_for_equal_recipes():
    assert re.fullmatch(r"[0-9a-f]{16}", Recipe().recipe_hash)
    assert Recipe().recipe_hash == load_recipe().recipe_hash == load_recipe(Recipe().to_dict()).recipe_hash


# One changed value per field: every field must reach the hash.
CHANGED_FIELDS = {
    "window_frames": 60,
    "hop_frames": 10,
    "view_azimuths_deg": [0, 90, 180, 270],
    "view_elevations_deg": [0, 20],
    "h_fov_deg": 90,
    "content_width": 240,
    "content_height": 135,
    "frame_width": 320,
    "frame_height": 240,
    "fps": 5,
    "audio_rate": 24000,
    "highpass_hz": 40,
    "gain_db": 30,
    "audio_outputs": ["stereo", "foa"],
    "label_format": "dcase2025",
    "video_codec": "mpeg4",
    "video_audio": None,
    "layout": "dcase2025",
    "class_map": {0: "speech", 1: "speech"},
    "min_onscreen_frames": 30,
    "max_views_per_window": 2,
    "clip_peak_limit": 0.99,
    "max_av_mismatch_s": 0.5,
    "max_video_gap_s": 2.0,
    "split_rules": {"generation": ["dev-train-*"], "evaluation": ["eval*"]},
    "verify": True,
    "detector_weights": "yolov8s.pt",
    "detector_score_threshold": 0.25,
    "detector_person_classes": ["Normal", "Fall"],
    "detector_image_size_px": 416,
    "min_visual_confirmation": 0.5,
    "min_view_separation_deg": 45,
    "min_clip_gap_frames": 25,
    "max_clips_per_source_hour": 700,
    "class_balance": {"speech": 2, "instrument": 1},
    "fill_max_near_duplicates": 0.9,
    "sampling": "random",
    "sample_clips": 200,
    "sample_seed": 2,
    "sample_view_step_deg": 5,
}
RANDOM = {"sampling": "random", "sample_clips": 100, "sample_seed": 1, "sample_view_step_deg": 1}
# Keys that are only valid together with others; the hash is compared against the recipe with just those (or, for
# the keys of ALONE_INVALID, whose companions are refused without them, against the defaults).
NEEDS = {"min_visual_confirmation": {"verify": True}, "fill_max_near_duplicates": {"max_clips_per_source_hour": 700},
         "sampling": {key: value for key, value in RANDOM.items() if key != "sampling"},
         "sample_clips": RANDOM, "sample_seed": RANDOM, "sample_view_step_deg": RANDOM}
ALONE_INVALID = {"sampling"}


def test_every_field_is_covered_by_the_change_list():
    assert set(CHANGED_FIELDS) == {field.name for field in dataclasses.fields(Recipe)}


@pytest.mark.parametrize(("key", "value"), CHANGED_FIELDS.items(), ids=CHANGED_FIELDS.keys())
def test_changing_any_field_changes_the_hash(key, value):
    base = NEEDS.get(key, {})
    reference = Recipe() if key in ALONE_INVALID else load_recipe(overrides=base)
    assert load_recipe(overrides={**base, key: value}).recipe_hash != reference.recipe_hash


def test_all_single_field_changes_hash_differently():
    hashes = {load_recipe(overrides={**NEEDS.get(key, {}), key: value}).recipe_hash
              for key, value in CHANGED_FIELDS.items()}
    assert len(hashes | {Recipe().recipe_hash}) == len(CHANGED_FIELDS) + 1


def test_policies_parse_from_set_and_yaml_and_class_balance_is_canonical(tmp_path):
    overrides = ["min_view_separation_deg=45", "min_clip_gap_frames=25", "max_clips_per_source_hour=700",
                 "class_balance={speech: 2, instrument: 1}"]
    recipe = load_recipe(overrides=overrides)
    assert (recipe.min_view_separation_deg, recipe.min_clip_gap_frames, recipe.max_clips_per_source_hour) == (
        45.0, 25, 700.0)
    assert type(recipe.min_view_separation_deg) is float and type(recipe.min_clip_gap_frames) is int
    assert recipe.class_balance == (("instrument", 1.0), ("speech", 2.0))
    assert recipe.class_balance_dict() == {"instrument": 1.0, "speech": 2.0}
    assert recipe.to_dict()["class_balance"] == {"instrument": 1.0, "speech": 2.0}
    # Written in another order, as floats, from a YAML file, or back from JSON: the same recipe and hash.
    path = tmp_path / "policies.yaml"
    path.write_text("min_view_separation_deg: 45.0\nmin_clip_gap_frames: 25.0\nmax_clips_per_source_hour: 700\n"
                    "class_balance:\n  instrument: 1.0\n  speech: 2\n")
    same = [load_recipe(overrides=[*overrides[:3], "class_balance={instrument: 1, speech: 2.0}"]), load_recipe(path),
            load_recipe(json.loads(json.dumps(recipe.to_dict()))), load_recipe(overrides=overrides[::-1])]
    for other in same:
        assert other == recipe and other.recipe_hash == recipe.recipe_hash
    dump_recipe_yaml(recipe, tmp_path / "dumped.yaml")
    assert load_recipe(tmp_path / "dumped.yaml") == recipe
    # Each policy can be switched off again with null.
    off = load_recipe(overrides=[*overrides, *(f"{o.split('=')[0]}=null" for o in overrides)])
    assert off == Recipe() and off.recipe_hash == Recipe().recipe_hash


def test_highpass_null_switches_the_highpass_off_and_has_its_own_hash(tmp_path):
    off = load_recipe(overrides=["highpass_hz=null"])
    assert off.highpass_hz is None and off.to_dict()["highpass_hz"] is None
    assert off.recipe_hash != Recipe().recipe_hash
    assert load_recipe({"highpass_hz": None}) == off
    dump_recipe_yaml(off, tmp_path / "off.yaml")
    assert "highpass_hz: null" in (tmp_path / "off.yaml").read_text()
    assert load_recipe(tmp_path / "off.yaml").recipe_hash == off.recipe_hash
    # A number is still checked against the Nyquist frequency; 0 is refused (null is the way to say "none").
    with pytest.raises(ContractError, match=r"highpass_hz=0\.0: must be in \(0, audio_rate / 2 = 8000\) Hz, or null"):
        load_recipe(overrides=["highpass_hz=0"])
    with pytest.raises(ContractError, match="highpass_hz='low': expected a finite number"):
        load_recipe(overrides=["highpass_hz=low"])


def test_audio_outputs_default_to_stereo_and_leave_the_hash_as_it_was():
    assert Recipe().audio_outputs == ("stereo",)
    assert load_recipe(overrides=["audio_outputs=[stereo]"]).recipe_hash == Recipe().recipe_hash
    assert load_recipe(overrides=["audio_outputs=stereo"]) == Recipe()
    both = load_recipe(overrides=["audio_outputs=[foa, stereo, foa]"])
    assert both.audio_outputs == ("stereo", "foa")
    assert both.to_dict()["audio_outputs"] == ["stereo", "foa"]
    assert both == load_recipe(overrides=["audio_outputs=[stereo, foa]"]) == load_recipe(both.to_dict())
    assert both.recipe_hash != Recipe().recipe_hash
    for value, message in (("[foa]", "must include 'stereo'"), ("[]", "must include 'stereo'"),
                           ("[stereo, binaural]", "'binaural' is not one of stereo, foa"),
                           ("3", "expected a list of stereo, foa")):
        expected = f"recipe: audio_outputs={yaml.safe_load(value)!r}: {message}"
        with pytest.raises(ContractError, match=re.escape(expected)):
            load_recipe(overrides=[f"audio_outputs={value}"])


def test_policies_left_off_leave_the_hash_as_it_was_before_them():
    # The hash of the SAVGBench defaults from before the selection policies existed (as exhaustive.yaml says):
    # outputs curated then keep their recipe_hash.
    assert Recipe().recipe_hash == "50a07c00b6a56c5e"
    assert "min_view_separation_deg" in Recipe().to_dict() and Recipe().to_dict()["class_balance"] is None


def test_person_classes_every_class_and_single_names():
    assert load_recipe().detector_person_classes == ("person",)
    assert load_recipe(overrides=["detector_person_classes=null"]).detector_person_classes is None
    assert load_recipe(overrides=["detector_person_classes='*'"]) == load_recipe(
        overrides=["detector_person_classes=null"])
    assert load_recipe(overrides=["detector_person_classes=person"]) == Recipe()
    # Order does not matter: the same set of classes is the same recipe.
    assert load_recipe(overrides=["detector_person_classes=[Normal, Fall]"]) == load_recipe(
        overrides=["detector_person_classes=[Fall, Normal, Fall]"])


def test_hash_ignores_int_versus_float_spelling():
    as_ints = load_recipe(overrides=["h_fov_deg=100", "view_azimuths_deg=[0, 90]", "window_frames=50", "gain_db=38"])
    as_floats = load_recipe(
        overrides=["h_fov_deg=100.0", "view_azimuths_deg=[0.0, 90.0]", "window_frames=50.0", "gain_db=38.0"]
    )
    assert as_ints == as_floats
    assert as_ints.recipe_hash == as_floats.recipe_hash


def test_hash_ignores_override_order_and_pattern_order():
    overrides = ["h_fov_deg=90", "max_views_per_window=3", "class_map={9: instrument, 0: speech}"]
    assert load_recipe(overrides=overrides).recipe_hash == load_recipe(overrides=overrides[::-1]).recipe_hash
    assert load_recipe(overrides=["class_map={9: instrument, 0: speech}"]) == load_recipe(
        overrides=["class_map={0: speech, 9: instrument}"]
    )
    forward = load_recipe(overrides=["split_rules={generation: [dev-*, extra-*], evaluation: [eval*]}"])
    backward = load_recipe(overrides=["split_rules={evaluation: eval*, generation: [extra-*, dev-*]}"])
    assert forward.recipe_hash == backward.recipe_hash


def test_hash_is_the_same_in_another_interpreter():
    # A different string-hash seed shows the hash does not depend on set or dict iteration order.
    code = "from data_contracts import load_recipe; print(load_recipe(overrides=['h_fov_deg=90']).recipe_hash)"
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == load_recipe(overrides=["h_fov_deg=90"]).recipe_hash


@pytest.mark.parametrize("key", ["max_av_mismatch_s", "max_video_gap_s"])
@pytest.mark.parametrize("value", [-0.1, float("inf"), float("nan")])
def test_tolerances_must_be_finite_non_negative_seconds(key, value):
    with pytest.raises(ContractError, match=key):
        load_recipe(overrides={key: value})


def test_the_exhaustive_named_recipe_is_the_savgbench_defaults_exactly():
    from data_contracts.recipe import recipe_names

    assert "exhaustive" in recipe_names()
    exhaustive = load_recipe("exhaustive")
    assert exhaustive == Recipe() and exhaustive.recipe_hash == Recipe().recipe_hash
    # Overrides apply on top of a named recipe as on top of a file.
    assert load_recipe("exhaustive", ["min_onscreen_frames=30"]) == Recipe(min_onscreen_frames=30)


def test_every_shipped_recipe_loads_and_is_named_by_its_file():
    from data_contracts.recipe import RECIPES_DIR, recipe_names

    names = recipe_names()
    assert names == sorted(path.stem for path in RECIPES_DIR.glob("*.yaml")) and names
    for name in names:
        assert load_recipe(name) == load_recipe(RECIPES_DIR / f"{name}.yaml")


def test_an_unknown_recipe_name_is_refused_listing_the_known_names():
    from data_contracts.recipe import recipe_names

    with refused("recipe 'exhaustiv': no such file, and no recipe of that name; known names: ") as caught:
        load_recipe("exhaustiv")
    assert f"known names: {', '.join(recipe_names())} (or give the path" in str(caught.value)


def test_a_path_is_still_a_path_and_an_existing_file_wins_over_a_name(tmp_path, monkeypatch):
    # Anything with a separator or a .yaml/.yml suffix is a path: a missing one is a missing file, not a name.
    for text in (str(tmp_path / "exhaustive"), "recipes/exhaustive", "exhaustive.yaml", "exhaustive.YML"):
        with refused(f"{text}: cannot read recipe"):
            load_recipe(text)
    path = tmp_path / "mine.yaml"
    path.write_text("min_onscreen_frames: 25\n")
    assert load_recipe(str(path)).min_onscreen_frames == 25 and load_recipe(path).min_onscreen_frames == 25
    # A file named like a recipe, in the working folder, is read as the file.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exhaustive").write_text("min_onscreen_frames: 20\n")
    assert load_recipe("exhaustive").min_onscreen_frames == 20


def test_sampling_keys_are_refused_with_the_rule_and_needed_with_random_draws():
    assert Recipe().sampling == "rule" and Recipe().sample_clips is None
    recipe = load_recipe(overrides=RANDOM)
    assert (recipe.sample_clips, recipe.sample_seed, recipe.sample_view_step_deg) == (100, 1, 1.0)
    assert type(recipe.sample_view_step_deg) is float
    with pytest.raises(ContractError, match=re.escape("recipe: sample_seed=1: is for sampling: random")):
        load_recipe(overrides={"sample_seed": 1})
    with pytest.raises(ContractError, match=re.escape("recipe: sample_clips=None: sampling: random needs it")):
        load_recipe(overrides={**RANDOM, "sample_clips": None})
    with pytest.raises(ContractError, match=re.escape("recipe: sampling='randomly': expected one of rule, random")):
        load_recipe(overrides={**RANDOM, "sampling": "randomly"})
    for key, value, problem in (("sample_clips", 0, "must be >= 1"), ("sample_seed", -1, "must be >= 0"),
                                ("sample_view_step_deg", 0.0, "must be in (0, 360] degrees"),
                                ("min_clip_gap_frames", 25, "is a selection policy")):
        with pytest.raises(ContractError, match=re.escape(f"recipe: {key}={value!r}: {problem}")):
            load_recipe(overrides={**RANDOM, key: value})
