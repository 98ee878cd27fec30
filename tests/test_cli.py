"""The `savgbench` command line: synth writes a STARSS23 layout; a bad recipe is refused before any work."""

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
