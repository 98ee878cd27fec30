"""The `savgbench` command line: synth writes a STARSS23 layout; a bad recipe or bad folders are refused before any
work, with one line and exit code 2; curate and plan default to the release recipe."""

import pytest

from flows.cli import main


def test_synth_writes_the_starss23_layout(tmp_path, capsys):
    code = main(["synth", str(tmp_path), "--recordings", "2", "--duration-s", "2",
                 "--width", "320", "--height", "160", "--fps", "10"])
    assert code == 0
    assert "wrote 2 recordings" in capsys.readouterr().out
    for rel in ("foa_dev/dev-train-synth/fold3_room90_mix001.wav", "video_dev/dev-train-synth/fold3_room90_mix001.mp4",
                "metadata_dev/dev-train-synth/fold3_room90_mix001.csv",
                "foa_dev/dev-test-synth/fold4_room91_mix001.wav"):
        assert (tmp_path / rel).is_file(), rel


def test_curate_refuses_a_bad_recipe_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["curate", str(tmp_path), str(out), "--set", "h_fov_deg=wide"])
    assert code == 2
    err = capsys.readouterr().err
    assert "h_fov_deg" in err and "wide" in err
    assert not out.exists()
    assert main(["curate", str(tmp_path), str(out), "--set", "no_such_key=1"]) == 2
    assert "no_such_key" in capsys.readouterr().err


def test_curate_refuses_bad_folders_before_prefect_starts(tmp_path, capsys):
    source = tmp_path / "source"
    main(["synth", str(source), "--recordings", "1", "--duration-s", "1", "--width", "64", "--height", "32",
          "--fps", "10"])
    capsys.readouterr()
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("not a folder\n")
    nope, empty, a_file = tmp_path / "nope", tmp_path / "empty", tmp_path / "a_file"
    out = tmp_path / "out"
    cases = {
        "missing source": ([nope, out], f"{nope}: source folder does not exist"),
        "empty source": ([empty, out], f"{empty}: no STARSS-style files"),
        "source is a file": ([a_file, out], f"{a_file}: source is not a folder"),
        "output is the source": ([source, source], f"{source}: output folder is inside the source folder"),
        "output inside the source": ([source, source / "out"], f"{source / 'out'}: output folder is inside"),
        "output under a file": ([source, a_file / "out"], f"{a_file / 'out'}: {a_file} is a file, not a folder"),
    }
    for name, (arguments, message) in cases.items():
        assert main(["curate", *map(str, arguments)]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith(f"savgbench curate: {message}"), (name, err)
        assert err.count("\n") == 1, (name, err)  # one line, no traceback
    assert not (tmp_path / "out").exists() and not (source / "out").exists()


def test_curate_help_documents_the_exit_codes(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["curate", "--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out and "  2  refused before any work" in out
    assert "  3  refused: another run holds the output folder" in out


def test_plan_and_curate_refuse_an_unknown_recipe_name_listing_the_known_ones(tmp_path, capsys):
    source, out = tmp_path / "source", tmp_path / "out"
    (source / "metadata_dev" / "dev-x").mkdir(parents=True)
    (source / "metadata_dev" / "dev-x" / "mix001.csv").write_text("0,1,0,10,0\n")
    for command in ("plan", "curate"):
        assert main([command, str(source), str(out), "--recipe", "exhaustiv"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"savgbench {command}: recipe 'exhaustiv': no such file, and no recipe of that name; "
                              "known names: dcase2025-stereo-seld, exhaustive, release"), err
        assert err.count("\n") == 1
    assert main(["verify", str(out), "--recipe", "exhaustiv"]) == 2
    assert capsys.readouterr().err.startswith("savgbench verify: recipe 'exhaustiv': no such file")
    assert main(["plan", str(source), str(out), "--recipe", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: cannot read recipe" in capsys.readouterr().err
    assert not out.exists()


def test_plan_annotations_only_refuses_a_source_without_annotations_and_a_held_output_folder(tmp_path, capsys):
    from tasks.run_lock import OutputLock

    media_only, out = tmp_path / "media", tmp_path / "out"
    (media_only / "foa_dev" / "dev-x").mkdir(parents=True)
    (media_only / "foa_dev" / "dev-x" / "mix001.wav").write_bytes(b"")
    assert main(["plan", str(media_only), str(out), "--annotations-only"]) == 2
    err = capsys.readouterr().err
    assert err == f"savgbench plan: {media_only}: no annotation files under it (expected metadata_dev/…/*.csv)\n"
    source = tmp_path / "source"
    (source / "metadata_dev" / "dev-x").mkdir(parents=True)
    (source / "metadata_dev" / "dev-x" / "mix001.csv").write_text("0,1,0,10,0\n")
    assert main(["plan", str(source), str(source / "out"), "--annotations-only"]) == 2
    assert "output folder is inside the source folder" in capsys.readouterr().err
    with OutputLock(out, "curate"):
        assert main(["plan", str(source), str(out), "--annotations-only", "--recipe", "exhaustive"]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"savgbench plan: {out}: another run is writing this output folder: ")
    assert err.count("\n") == 1
    assert not (out / "manifests").exists()


def test_plan_help_documents_its_options_and_exit_codes(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    out = capsys.readouterr().out
    assert "--annotations-only" in out and "--recipe NAME|PATH" in out and "exit codes:" in out
    assert "  3  refused: another run holds the output folder" in out


def test_curate_and_plan_default_to_the_release_recipe(tmp_path, capsys):
    for command in ("curate", "plan"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "(default: release)" in " ".join(capsys.readouterr().out.split())
    # An override only the release recipe refuses: its class_balance weighs instrument, which this class_map drops.
    # Refused before any work, so nothing starts whatever the folders hold.
    source, out = tmp_path / "source", tmp_path / "out"
    for command in ("curate", "plan"):
        assert main([command, str(source), str(out), "--set", "class_map={0: speech, 1: speech}"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"savgbench {command}: recipe: class_balance=") and "'instrument' is not a target" in err
        # The same override on the exhaustive recipe passes the recipe check, and stops at the missing source.
        assert main([command, str(source), str(out), "--recipe", "exhaustive", "--set",
                     "class_map={0: speech, 1: speech}"]) == 2
        assert capsys.readouterr().err == f"savgbench {command}: {source}: source folder does not exist\n"
    assert not out.exists()


@pytest.mark.slow  # one Prefect flow run
def test_plan_without_a_recipe_keeps_the_release_selection_of_real_annotation_files(tmp_path, capsys):
    """`savgbench plan` with no --recipe, on real files: the clips the benchmark's evaluation of `release` keeps."""
    import shutil

    import pyarrow.parquet as pq

    from benchmarks.bench_selection import ALL, evaluate_selection, read_corpora
    from data_contracts.recipe import load_recipe
    from tests.helpers import starss22_sample

    sample = starss22_sample()
    source, out = tmp_path / "source", tmp_path / "out"
    # The three tau recordings with instrument clips and three sony ones.
    files = {"dev-train-tau": ("fold3_room6_mix001", "fold3_room6_mix002", "fold3_room6_mix005"),
             "dev-train-sony": ("fold3_room21_mix001", "fold3_room21_mix002", "fold3_room21_mix003")}
    for folder, stems in files.items():
        (source / "metadata_dev" / folder).mkdir(parents=True)
        for stem in stems:
            shutil.copy(sample / folder / f"{stem}.csv", source / "metadata_dev" / folder / f"{stem}.csv")
    assert main(["plan", str(source), str(out), "--annotations-only"]) == 0
    capsys.readouterr()
    release = load_recipe("release")
    evaluation = evaluate_selection(read_corpora(source / "metadata_dev")[ALL], release)
    # 18 minutes: a budget of 211 clips, which the balance shares 2 : 1 and both classes have more than their share.
    after_clip_gap, kept = evaluation.funnel["after_clip_gap"], evaluation.funnel["after_budget"]
    assert kept == {"speech": 141, "instrument": 70} and all(after_clip_gap[c] > kept[c] for c in kept)
    clips = pq.read_table(out / "manifests" / "clips.parquet", columns=["clip_id", "recipe_hash"])
    assert set(clips.column("recipe_hash").to_pylist()) == {release.recipe_hash}
    assert sorted(clips.column("clip_id").to_pylist()) == sorted(evaluation.kept_clip_ids)
