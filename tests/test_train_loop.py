"""The shared training loop: every trainer survives a real kill (SIGKILL in the middle of a run,
saving after every step) and resumes from its last save instead of starting again."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import make_tiny_world
from worldmodel.train.loop import LoopConfig, TrainLoop, lr_at

ROOT = Path(__file__).resolve().parents[1]
BIG = 10 ** 6          # steps asked of the run that gets killed: it never ends by itself


def _kill_after_saves(code: str, out: Path, min_step: int = 2, timeout: float = 240.0) -> int:
    """Run `code` in a fresh Python, SIGKILL it once out/train_state.json says `min_step` steps
    were saved; returns the saved step."""
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    state, t0 = out / "train_state.json", time.time()
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it was killed: {proc.stderr.read().decode()[-2000:]}")
            if time.time() - t0 > timeout:
                pytest.fail("the run saved nothing in time")
            if state.is_file() and json.loads(state.read_text())["step"] >= min_step:
                break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return json.loads(state.read_text())["step"]


def _events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _check_resumed(out: Path, killed_at: int, total: int):
    events = _events(out)
    resume = [e for e in events if e.get("event") == "resume"]
    assert resume and resume[-1]["step"] >= killed_at, "the second run did not resume"
    after = events[events.index(resume[-1]):]
    steps = [e["step"] for e in after if "loss" in e]
    assert steps and min(steps) >= killed_at and max(steps) == total - 1, steps
    assert next(e for e in after if e.get("event") == "done")["step"] == total


def test_dynamics_resumes_after_a_kill(recording, tiny_ae, tmp_path):
    from worldmodel.train.dynamics import train_dynamics
    out = tmp_path / "dyn"
    killed = _kill_after_saves(
        f"from worldmodel.train.dynamics import train_dynamics\n"
        f"train_dynamics({str(recording)!r}, {str(tiny_ae)!r}, {str(out)!r}, 'tiny', steps={BIG}, batch_size=4, "
        f"save_every=0, progress=False)", out)
    train_dynamics(recording, tiny_ae, out, "tiny", steps=killed + 3, batch_size=4, progress=False)
    _check_resumed(out, killed, killed + 3)
    assert json.loads((out / "config.json").read_text())["trained_steps"] == killed + 3


def test_conv_autoencoder_resumes_after_a_kill(recording, tmp_path):
    from worldmodel.train.autoencoder import train_autoencoder
    out = tmp_path / "ae"
    killed = _kill_after_saves(
        f"from worldmodel.train.autoencoder import train_autoencoder\n"
        f"train_autoencoder({str(recording)!r}, {str(out)!r}, 'tiny', steps={BIG}, batch_size=4, save_every=0, "
        f"progress=False)", out)
    m = train_autoencoder(recording, out, "tiny", steps=killed + 3, batch_size=4, progress=False)
    _check_resumed(out, killed, killed + 3)
    assert m["val_psnr"] > 0 and not (out / "train_state.json").exists()   # finished runs drop their state


def test_distillation_resumes_after_a_kill(recording, tmp_path):
    from dynamics.distill import DistillConfig
    from worldmodel.train.distill import distill_world
    teacher = make_tiny_world(tmp_path / "teacher", seed=2)
    out = tmp_path / "student"
    cfg = "dict(student_steps=1, teacher_steps=2, steps={}, batch_size=4)"
    killed = _kill_after_saves(
        f"from dynamics.distill import DistillConfig\nfrom worldmodel.train.distill import distill_world\n"
        f"distill_world({str(teacher)!r}, {str(recording)!r}, {str(out)!r}, DistillConfig(**{cfg.format(BIG)}), "
        f"save_every=0, progress=False)", out)
    distill_world(teacher, recording, out, DistillConfig(**eval(cfg.format(killed + 3))), progress=False)
    _check_resumed(out, killed, killed + 3)


def test_heads_resume_after_a_kill(tmp_path):
    from worldmodel.train.heads import fit_heads
    g = torch.Generator().manual_seed(0)
    n = 64
    data = {"z_prev": torch.randn(n, 4, 8, 8, generator=g), "z": torch.randn(n, 4, 8, 8, generator=g),
            "action": torch.zeros(n, 25), "reward": (torch.arange(n) % 8 == 0).float(),
            "done": (torch.arange(n) % 16 == 0).float()}
    path = tmp_path / "data.safetensors"
    from safetensors.torch import save_file
    save_file(data, str(path))
    out = tmp_path / "heads"
    killed = _kill_after_saves(
        f"from safetensors.torch import load_file\nfrom worldmodel.train.heads import fit_heads\n"
        f"fit_heads(load_file({str(path)!r}), 25, steps={BIG}, batch=16, device='cpu', progress=False, "
        f"out={str(out)!r}, save_every=0)", out)
    heads = fit_heads(data, 25, steps=killed + 3, batch=16, device="cpu", progress=False, out=out)
    _check_resumed(out, killed, killed + 3)
    assert not (out / "train_state.json").exists() and heads.config.latent_size == 8


def test_time_budget_and_schedule(tmp_path):
    """A budget of training minutes sets the step count after 50 steps and again every 500 at the
    pace measured so far, so the run fills its budget; the learning rate warms up, then decays
    by cosine to its floor at the last step."""
    net = torch.nn.Linear(4, 1)
    loop = TrainLoop(tmp_path, "lin", net, LoopConfig(steps=BIG, lr=0.1, minutes=0.01, warmup=5), progress=False)
    x = torch.randn(64, 4)
    loop.run(lambda step: net(x).pow(2).mean(), lambda step: None)
    budgets = [e for e in _events(tmp_path) if e.get("event") == "budget"]
    assert 50 < budgets[-1]["total"] < BIG and loop.step == budgets[-1]["total"]
    assert loop.train_seconds >= 0.5 * 0.01 * 60          # it did not stop early (the bar of issue 18)
    assert lr_at(0, 100, 1.0, warmup=10) == pytest.approx(0.1)
    assert lr_at(10, 100, 1.0, warmup=10) == pytest.approx(1.0)
    assert lr_at(99, 100, 1.0, warmup=10, floor=0.1) == pytest.approx(0.1, abs=1e-3)
