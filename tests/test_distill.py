"""The distilled student: schedules, the loss going down against the guided teacher, one forward
pass per step, determinism, the fast/slow switch, and `worldmodel bench` on a tiny checkpoint."""
import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import make_tiny_world
from dynamics import DiffusionConfig, karras_sigmas
from dynamics.distill import DistillConfig, distill_loss
from worldmodel.train.distill import distill_world
from dynamics.sampler import subsample_sigmas
from worldmodel import Action, World
from worldmodel.world_checkpoint import load_world_parts


def test_student_levels_sit_on_the_teachers_schedule():
    t = karras_sigmas(8, DiffusionConfig())
    assert subsample_sigmas(t, 1) == [t[0], 0.0]
    assert subsample_sigmas(t, 2) == [t[0], t[4], 0.0]
    assert subsample_sigmas(t, 4) == [t[0], t[2], t[4], t[6], 0.0]
    with pytest.raises(ValueError, match="divide"):
        subsample_sigmas(t, 3)
    with pytest.raises(ValueError, match="multiple"):
        DistillConfig(student_steps=4, teacher_steps=6)


@pytest.fixture(scope="module")
def student(recording, tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    teacher = make_tiny_world(root / "teacher", seed=5)
    cfg = DistillConfig(student_steps=1, teacher_steps=4, guidance=2.0, steps=60, batch_size=16, lr=2e-3)
    return distill_world(teacher, recording, root / "student", cfg, progress=False), teacher, cfg


def _held_out_loss(den_student, teacher_path, recording, cfg, segment=0):
    """The distillation loss on fixed clips of the recording, with fixed noise."""
    from worldmodel.data import LatentClips
    from worldmodel.train.dynamics import encode_episodes
    from worldmodel.data import load_episodes
    config, ae, teacher = load_world_parts(teacher_path)
    _, eps = load_episodes(recording)
    lat = encode_episodes(ae, eps, "cpu")
    clips = LatentClips(lat, eps, list(range(len(eps))), config["dynamics"]["context"] + 1)
    x0, a, m = clips.sample(np.random.default_rng(123), 32, "cpu")
    with torch.no_grad():
        return distill_loss(den_student, teacher, x0, a, m, cfg, segment, torch.Generator().manual_seed(9)).item()


def test_distillation_brings_the_student_to_the_guided_teacher(student, recording):
    """Before training the student is the teacher run in 1 unguided step; after 60 steps its one
    step must land much closer to the teacher's 4 guided steps."""
    out, teacher, cfg = student
    _, _, before = load_world_parts(teacher)
    _, _, after = load_world_parts(out)
    l0 = _held_out_loss(before, teacher, recording, cfg)
    l1 = _held_out_loss(after, teacher, recording, cfg)
    assert l1 < 0.5 * l0, (l0, l1)


def test_student_is_an_ordinary_world_with_one_pass_per_step(student, tiny_world):
    out, _, _ = student
    world = World.from_pretrained(out, seed=3)
    assert world.settings()["steps"] == 1 and world.settings()["guidance_scale"] == 1.0
    assert world.sigmas == [pytest.approx(DiffusionConfig().sigma_max), 0.0]
    calls = []
    net_forward = world.denoiser.net.forward

    def counting(x, *a, **k):
        calls.append(x.shape[0])
        return net_forward(x, *a, **k)
    world.denoiser.net.forward = counting
    world.reset(np.zeros((32, 32, 3), np.uint8))
    calls.clear()
    f = world.step(Action.press("right"))
    assert f.shape == (32, 32, 3) and f.dtype == np.uint8
    assert calls == [1, 1]  # one denoising pass (no unconditional twin) + caching the new frame

    slow = World.from_pretrained(out, seed=3, fast=False)
    assert slow.settings()["steps"] == 4 and slow.settings()["guidance_scale"] == 2.0


def test_student_sampling_is_deterministic_given_the_seed(student):
    out, _, _ = student
    acts = [Action.press(k) for k in ("right", "up", "left", "space")]
    runs = []
    for seed in (4, 4, 5):
        w = World.from_pretrained(out, seed=seed)
        w.reset(np.full((32, 32, 3), 90, np.uint8))
        runs.append(np.stack([w.step(a) for a in acts]))
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_switching_paths_mid_play(student):
    out, _, _ = student
    w = World.from_pretrained(out, seed=1)
    w.reset(np.full((32, 32, 3), 90, np.uint8))
    w.step(Action.press("right"))
    fork = w.fork()
    w.set_fast(False)
    assert w.settings()["path"] == "teacher (slow)" and (w.steps, w.guidance_scale) == (4, 2.0)
    w.set_fast(True)
    assert w.settings()["path"] == "student (fast)" and w.steps == 1
    # the window still holds the whole play, so re-encoding it gives back the same cache exactly
    a, b = w.step(Action.press("left")), fork.step(Action.press("left"))
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    w.set_fast(False)
    assert w.step(Action.press("up")).shape == (32, 32, 3)
    with pytest.raises(ValueError, match="not a distilled"):
        World.from_pretrained(out / "teacher", fast=True)


def test_distill_refuses_a_student_and_a_foreign_recording(student, tmp_path):
    from worldmodel.data import record
    from worldmodel.envs import make_env
    out, teacher, cfg = student
    with pytest.raises(ValueError, match="already a distilled student"):
        distill_world(out, tmp_path, tmp_path / "x", cfg, progress=False)
    rec = tmp_path / "rec48"
    record(make_env("procedural", size=48), rec, episodes=1, steps=8, policy="random", seed=0, progress=False)
    with pytest.raises(ValueError, match="48px"):
        distill_world(teacher, rec, tmp_path / "y", cfg, progress=False)


def test_a_warm_started_student_begins_where_the_earlier_one_ended(student, recording, tmp_path, tiny_unet_world):
    """--init: the same first batch and noise (same seed) cost the warm start much less than the
    copy of the teacher the first run began from; a network of another shape is refused."""
    out, teacher, cfg = student
    warm = distill_world(teacher, recording, tmp_path / "warm", replace(cfg, steps=2), progress=False, init=out)
    first = lambda run: next(r["loss"] for r in map(json.loads, (run / "log.jsonl").open()) if r.get("step") == 0 and "loss" in r)
    assert first(warm) < 0.6 * first(out), (first(warm), first(out))
    assert json.loads((warm / "config.json").read_text())["distilled"]["init"] == str(out)
    with pytest.raises(ValueError, match="differs"):
        distill_world(teacher, recording, tmp_path / "x", replace(cfg, steps=2), progress=False, init=tiny_unet_world)
    (tmp_path / "cold").mkdir()          # a killed run that began as a copy of the teacher keeps that start
    (tmp_path / "cold" / "train_state.json").write_text("{}")
    with pytest.raises(ValueError, match="started from a copy of the teacher"):
        distill_world(teacher, recording, tmp_path / "cold", replace(cfg, steps=2), progress=False, init=out)


def test_bench_reports_both_paths(student, tmp_path, capsys):
    from worldmodel.cli import main
    out, _, _ = student
    assert main(["bench", str(out), "--device", "cpu", "--frames", "6", "--warmup", "2", "--episodes", "2",
                 "--batch", "2", "--json", str(tmp_path / "b.json")]) == 0
    r = json.loads((tmp_path / "b.json").read_text())
    assert set(r["paths"]) == {"student", "teacher"} and r["batch"] == 2
    for p in r["paths"].values():
        lat = p["latency_ms"]
        assert p["frames_per_s"] > 0 and 0 < lat["p50"] <= lat["p99"]
        # frames/s counts every world of the batch: 2 frames per timed step
        assert p["frames_per_s"] == pytest.approx(2 * 1e3 / lat["mean"], rel=1e-6)
        q = p["quality"]
        assert q["dpsnr"]["4"] == pytest.approx(q["psnr"]["4"] - q["psnr_random_actions"]["4"])
        assert q["rollouts"] > 0
    assert r["speedup"] == pytest.approx(r["paths"]["student"]["frames_per_s"] / r["paths"]["teacher"]["frames_per_s"])
    assert r["paths"]["student"]["settings"]["steps"] == 1 and r["paths"]["teacher"]["settings"]["steps"] == 4
    assert "student / teacher frames/s" in capsys.readouterr().out


def test_window_switches_teacher_and_student_with_t(student, monkeypatch):
    import pygame
    from play import pygame_app
    out, _, _ = student
    world = World.from_pretrained(out)
    paths = []
    real_step = world.step
    monkeypatch.setattr(world, "step", lambda a: (paths.append(world.steps), real_step(a))[1])
    # frame 0 shows the start image, frame 1 is the student's, then T: the teacher's 4 guided steps
    script = iter([[], [], [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_t)], [], [pygame.event.Event(pygame.QUIT)]])
    monkeypatch.setattr(pygame.event, "get", lambda: next(script))
    assert pygame_app.run_window(world, np.zeros((32, 32, 3), np.uint8), scale=2, fps=0) == 0
    assert paths == [1, 4, 4]


def test_shipped_students_and_their_teachers(tmp_path, capsys):
    from worldmodel.cli import main
    student = World.from_pretrained("boxing", device="cpu")
    assert student.fast is True and student.steps == 1
    teacher = World.from_pretrained("boxing/teacher", device="cpu")
    assert teacher.fast is None and (teacher.steps, teacher.guidance_scale) == (8, 2.0)
    # doom: the one-step student of the campaign's U-Net (issue 16), which samples in 10 guided steps
    doom = World.from_pretrained("doom", device="cpu")
    assert doom.fast is True and doom.steps == 1
    doom_teacher = World.from_pretrained("doom/teacher", device="cpu")
    assert doom_teacher.fast is None and (doom_teacher.steps, doom_teacher.guidance_scale) == (10, 2.0)
    assert doom.config["dynamics"]["arch"] == doom_teacher.config["dynamics"]["arch"] == "unet"
    assert main(["distill", "--teacher", "boxing", "--out", str(tmp_path / "s")]) == 2
    assert "already a distilled student" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("short_past", [0.0, 1.0])
def test_a_student_equal_to_its_one_step_teacher_has_no_loss(tiny_unet_world, short_past):
    """With N = K = 1 and no guidance, the teacher's target is its own one-step prediction, so a
    student that is a copy of it has zero loss; with every clip's past shortened (as a U-Net
    trained on the newest frame learns it: diffusion.shorten_past) too, which holds only if the
    teacher and the student see the same short past."""
    _, _, den = load_world_parts(tiny_unet_world)
    den = den.float()
    teacher = type(den)(den.net, DiffusionConfig(loss_frames="last", short_past=short_past))
    cfg = DistillConfig(student_steps=1, teacher_steps=1, guidance=1.0)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(6, 4, 4, 8, 8, generator=g)
    a = torch.randn(6, 4, den.net.config.action_dim, generator=g)
    m = torch.ones(6, 4, dtype=torch.bool)
    with torch.no_grad():
        loss = distill_loss(teacher, teacher, x0, a, m, cfg, 0, torch.Generator().manual_seed(1)).item()
        other = distill_loss(teacher, teacher, x0, a.flip(0), m, cfg, 0, torch.Generator().manual_seed(1)).item()
    assert loss < 1e-9 and other < 1e-9
    seen = []                                          # the noise levels the student was shown
    spy = type(den)(den.net, teacher.config)
    spy.forward = lambda x, sigma, *r, **k: (seen.append(sigma), type(den).forward(spy, x, sigma, *r, **k))[1]
    with torch.no_grad():
        distill_loss(spy, teacher, x0, a, m, cfg, 0, torch.Generator().manual_seed(1))
    absent = (seen[0] >= 999).any(dim=1)               # clips with an absent (shortened) oldest frame
    assert bool(absent.all()) if short_past else not bool(absent.any())
    # and the loss sees a wrong student: the teacher shifted by a little noise on every weight
    wrong = type(den)(copy.deepcopy(den.net), teacher.config)
    with torch.no_grad():
        for p in wrong.net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
        assert distill_loss(wrong, teacher, x0, a, m, cfg, 0, torch.Generator().manual_seed(1)).item() > 1e-4
        # a teacher trained with a salience weight passes it on: a copy of it still has no loss, a wrong
        # student pays more (every weight is >= 1, and 1 + 10x a distance whose mean is 1 on average)
        salient = type(den)(den.net, DiffusionConfig(loss_frames="last", short_past=short_past, salience_weight=10.0))
        assert distill_loss(salient, salient, x0, a, m, cfg, 0, torch.Generator().manual_seed(1)).item() < 1e-9
        plain = distill_loss(wrong, teacher, x0, a, m, cfg, 0, torch.Generator().manual_seed(1)).item()
        weighted = distill_loss(type(den)(wrong.net, salient.config), salient, x0, a, m, cfg, 0,
                                torch.Generator().manual_seed(1)).item()
        assert weighted > 3 * plain


def test_a_warm_start_is_distilled_and_carried_by_student_and_teacher(recording, tmp_path, tiny_unet_world):
    """--warm-start s: the student is shown the previous real latent noised to s at its first step
    (as World samples with warm_start), both checkpoints carry the setting, and the student's noise
    levels start at s."""
    _, _, den = load_world_parts(tiny_unet_world)
    den = den.float()
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 4, 4, 8, 8, generator=g)
    a = torch.randn(4, 4, den.net.config.action_dim, generator=g)
    m = torch.ones(4, 4, dtype=torch.bool)
    shown = {}
    for warm in (0.0, 0.01):
        spy = type(den)(den.net, den.config)
        spy.forward = lambda x, sigma, *r, _w=warm, **k: (shown.__setitem__(_w, x[:, -1].clone()),
                                                          type(den).forward(spy, x, sigma, *r, **k))[1]
        with torch.no_grad():
            distill_loss(spy, den, x0, a, m, DistillConfig(1, 1, guidance=1.0, warm_start=warm), 0,
                         torch.Generator().manual_seed(1))
    assert (shown[0.01] - x0[:, -2]).abs().max() < 0.1           # the previous frame, barely noised
    assert (shown[0.0] - x0[:, -2]).abs().mean() > 1.0           # pure noise at sigma_max
    with pytest.raises(ValueError, match="warm_start"):
        DistillConfig(warm_start=-1.0)
    cfg = DistillConfig(student_steps=1, teacher_steps=2, guidance=2.0, steps=4, batch_size=4, warm_start=2.0)
    out = distill_world(tiny_unet_world, recording, tmp_path / "student", cfg, progress=False)
    student = World.from_pretrained(out)
    assert student.settings()["warm_start"] == 2.0 and student.sigmas[0] == pytest.approx(2.0)
    student.set_fast(False)
    assert student.settings()["warm_start"] == 2.0 and student.steps == 2
