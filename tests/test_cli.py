import subprocess
import sys

import numpy as np
import pytest

from worldmodel.cli import main
from worldmodel.data import read_video


def run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_console_script_help():
    r = subprocess.run([sys.executable, "-m", "worldmodel.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "record" in r.stdout and "train-dynamics" in r.stdout and "play" in r.stdout


def test_record_cli(tmp_path, capsys):
    code, out, _ = run(["record", "--env", "procedural", "--episodes", "2", "--steps", "5", "--size", "32",
                        "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and "2 episodes" in out and (tmp_path / "r" / "meta.json").is_file()


@pytest.mark.parametrize("argv, msg", [
    (["record", "--env", "zelda", "--episodes", "1", "--steps", "1", "--out", "x"], "unknown environment"),
    (["record", "--env", "procedural", "--episodes", "1", "--steps", "1", "--policy", "smart", "--out", "x"], "unknown policy"),
    (["train-autoencoder", "--data", "/no/such/dir", "--preset", "tiny", "--out", "x"], "not a recording"),
    (["play", "/no/such/world", "--headless"], "checkpoint not found"),
])
def test_cli_errors_are_clear(argv, msg, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(argv, capsys)
    assert code == 2 and msg in err and "Traceback" not in err


def test_cli_rejects_bad_numbers(capsys):
    with pytest.raises(SystemExit) as e:
        main(["record", "--env", "procedural", "--episodes", "-3", "--steps", "1", "--out", "x"])
    assert e.value.code == 2 and "positive integer" in capsys.readouterr().err


def test_play_headless_writes_video(tiny_world, tmp_path, capsys):
    out = tmp_path / "x.mp4"
    code, msg, _ = run(["play", str(tiny_world), "--headless", "--frames", "12", "--out", str(out), "--scale", "2"], capsys)
    assert code == 0 and "12 frames" in msg
    frames = read_video(out)
    assert frames.shape == (12, 64, 64, 3)
    assert np.abs(frames[-1].astype(int) - frames[0]).mean() > 1  # the world moved


def test_play_headless_bad_image(tiny_world, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    code, _, err = run(["play", str(tiny_world), "--headless", "--image", str(tmp_path / "notes.txt"),
                        "--out", str(tmp_path / "x.mp4")], capsys)
    assert code == 2 and "not a readable image" in err


def test_train_dynamics_checks_inputs_before_writing(tmp_path, capsys, recording):
    code, _, err = run(["train-dynamics", "--data", str(tmp_path / "nodata"), "--autoencoder", str(tmp_path / "noae"),
                        "--preset", "tiny", "--out", str(tmp_path / "w")], capsys)
    assert code == 2 and "not a recording" in err and not (tmp_path / "w").exists()
    code, _, err = run(["train-dynamics", "--data", str(recording), "--autoencoder", str(tmp_path / "noae"),
                        "--preset", "tiny", "--out", str(tmp_path / "w")], capsys)
    assert code == 2 and "--autoencoder: checkpoint not found" in err and not (tmp_path / "w").exists()
