"""The fidelity report: metric code on known inputs, the collapse rule on synthetic cases, and
`worldmodel eval` end to end on a tiny (untrained) world."""
from __future__ import annotations

import json

import numpy as np
import pytest

from worldmodel.metrics import mean_psnr, mean_ssim, psnr, ssim
from worldmodel.stability import CollapseRule, check_collapse


def _frames(n, seed=0, size=32):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_psnr_and_ssim_of_identical_frames():
    a = _frames(4)
    assert mean_psnr(a, a) == 100.0
    assert np.allclose(psnr(a, a), 100.0)
    assert np.allclose(ssim(a, a), 1.0)
    assert mean_ssim(a, a) == pytest.approx(1.0)


def test_psnr_of_a_known_noise_level():
    # a constant offset of 16 grey levels: MSE 256 -> 10 log10(255^2 / 256) = 24.05 dB
    a = np.full((3, 16, 16, 3), 100, np.uint8)
    b = a + np.uint8(16)
    assert mean_psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / 256), abs=1e-9)
    # Gaussian noise of std 10 (clipping negligible around 128): about 28.1 dB
    rng = np.random.default_rng(0)
    c = np.full((8, 32, 32, 3), 128.0)
    d = np.clip(np.round(c + rng.normal(0, 10, c.shape)), 0, 255).astype(np.uint8)
    assert mean_psnr(c.astype(np.uint8), d) == pytest.approx(20 * np.log10(255 / 10), abs=0.15)


def test_ssim_falls_with_noise():
    rng = np.random.default_rng(1)
    base = np.clip(rng.normal(128, 40, (2, 32, 32, 3)), 0, 255).astype(np.uint8)
    little = np.clip(base + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8)
    lots = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
    assert 1.0 > mean_ssim(base, little) > mean_ssim(base, lots) > 0.0
    assert ssim(base, lots).shape == (2,)
    # structure unrelated: SSIM near 0
    assert abs(mean_ssim(_frames(4, 2), _frames(4, 3))) < 0.05
    with pytest.raises(ValueError):
        ssim(_frames(1), _frames(1, size=16))


def _real_play(n=200):
    """Synthetic 'real game': a bright square moving over a textured background."""
    rng = np.random.default_rng(0)
    bg = rng.integers(40, 200, (32, 32, 3)).astype(np.uint8)
    frames = []
    for t in range(n):
        f = bg.copy()
        x = (3 * t) % 24
        f[8:16, x:x + 8] = 255
        frames.append(f)
    return np.stack(frames)


def test_collapse_rule_accepts_the_real_game_itself():
    real = _real_play()
    r = check_collapse(real[50:], real)
    assert r["finite"] and not r["collapsed"], r["reasons"]


def test_collapse_rule_catches_fading_to_black():
    real = _real_play()
    gen = real[:100].copy()
    gen[40:] = (gen[40:] * 0.02).astype(np.uint8)        # mean and std fall far below the real range
    gen[40:, 0, 0] = np.arange(60)[:, None] % 7          # ...while still moving a little
    r = check_collapse(gen, real)
    assert r["collapsed"] and "statistics" in r["reasons"][0]


def test_collapse_rule_catches_a_frozen_picture():
    real = _real_play()
    gen = np.concatenate([real[:20], np.repeat(real[20:21], 80, axis=0)])
    r = check_collapse(gen, real)
    assert r["collapsed"] and any("frozen" in x for x in r["reasons"])


def test_collapse_rule_needs_a_sustained_run():
    real = _real_play()
    gen = real[:100].copy()
    gen[10:20] = 0                                         # 10 black frames < window of 32
    gen[60:70] = gen[59]                                   # 10 frozen frames
    r = check_collapse(gen, real, CollapseRule(window=32))
    assert not r["collapsed"], r["reasons"]
    assert check_collapse(gen, real, CollapseRule(window=8))["collapsed"]


def test_collapse_rule_catches_a_blur():
    """Soup that keeps the real mean, contrast and some motion passes rules 1-2; the blur rule
    catches it."""
    real = _real_play()
    r0 = real[:100].reshape(100, -1).astype(np.float32)
    # smooth ramps with each real frame's mean and contrast, drifting a little (a soup of averaged views)
    ramp = np.linspace(-1, 1, 32, dtype=np.float32)[None, :, None, None] + 0.02 * np.arange(100)[:, None, None, None]
    ramp = np.broadcast_to(ramp, (100, 32, 32, 3)).reshape(100, -1)
    ramp = (ramp - ramp.mean(1, keepdims=True)) / ramp.std(1, keepdims=True)
    gen = (ramp * r0.std(1, keepdims=True) + r0.mean(1, keepdims=True)).clip(0, 255).reshape(100, 32, 32, 3)
    gen[1::2] = np.roll(gen[1::2], 1, axis=1)                    # and flickering by a row
    gen = gen.astype(np.uint8)
    r = check_collapse(gen, real, CollapseRule(blur_frac=0.0))
    assert not r["collapsed"], r["reasons"]             # the old rule passes it ...
    r = check_collapse(gen, real)
    assert r["collapsed"] and any("blurred" in x for x in r["reasons"]), r
    assert r["generated_sharpness"] < 0.5 * r["real_sharpness"]
    assert not check_collapse(real[50:], real)["collapsed"]   # ... and the real game is sharp enough


def test_rollout_starts_spread_after_the_settle_frames():
    from worldmodel.evaluate import rollout_starts

    class Ep:
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

    eps = [Ep(100), Ep(20), Ep(40)]
    # horizon 16: starts may go up to len - 17; episode 1 has no room once 8 frames are skipped
    assert rollout_starts(eps, 16, 2) == [(0, 0), (0, 83), (1, 0), (1, 3), (2, 0), (2, 23)]
    assert rollout_starts(eps, 16, 3, skip=8) == [(0, 8), (0, 46), (0, 83), (2, 8), (2, 16), (2, 23)]
    with pytest.raises(ValueError, match="first 90 frames"):
        rollout_starts(eps, 16, 2, skip=90)
    with pytest.raises(ValueError, match="skip"):
        rollout_starts(eps, 16, 2, skip=-1)


def test_sharpness_and_counterfactual_scores():
    from worldmodel.evaluate import gradient_energy, score_rollouts
    real = _real_play(10)[None]                           # (1, 10, H, W, 3): start + 9 frames
    blurred = ((real[:, 1:].astype(np.float32) + np.roll(real[:, 1:], 1, 3)) / 2).astype(np.uint8)
    r = {"real": real, "psnr": real[:, 1:], "psnr_random_actions": blurred, "real_random": blurred}
    s = score_rollouts(r, (1, 4))
    assert s["sharpness"]["1"] == pytest.approx(1.0)     # the real frames themselves
    r2 = {**r, "psnr": blurred}
    assert score_rollouts(r2, (1, 4))["sharpness"]["4"] < 0.9
    assert gradient_energy(blurred) < gradient_energy(real)
    assert s["psnr_counterfactual"]["1"] == 100.0        # random-action rollout equals the replayed game
    assert "psnr_counterfactual" not in score_rollouts({k: v for k, v in r.items() if k != "real_random"}, (1,))


def _arena_with_sprite(n: int, steps: int, rng) -> np.ndarray:
    """(n, steps + 1, 32, 32, 3): a textured grey arena, and a 2x2 red sprite walking right."""
    arena = (110 + rng.integers(-6, 7, (32, 32, 1))).repeat(3, -1).astype(np.uint8)
    real = np.broadcast_to(arena, (n, steps + 1, 32, 32, 3)).copy()
    for i in range(n):
        y, x = rng.integers(4, 26, 2)
        for t in range(steps + 1):
            real[i, t, y:y + 2, x + t:x + t + 2] = (200, 30, 30)
    return real


def test_unusual_psnr_sees_an_erased_or_misplaced_sprite():
    """Whole-frame PSNR puts a world that erases a 2x2 sprite (or draws it elsewhere) a few dB below
    one that draws it where the game does, a little off everywhere; PSNR where frames stand out
    from the usual view puts it far below."""
    from worldmodel.evaluate import score_rollouts
    from worldmodel.metrics import masked_psnr, unusual_mask
    real = _arena_with_sprite(8, 4, np.random.default_rng(0))
    arena = np.median(real.reshape(-1, 32, 32, 3), axis=0)
    erased = np.broadcast_to(arena.astype(np.uint8), real[:, 1:].shape).copy()
    moved = erased.copy()
    moved[:, :, 2:4, 2:4] = (200, 30, 30)                  # a sprite in the corner, none where the game's is
    noisy = np.clip(real[:, 1:].astype(int) + 3, 0, 255).astype(np.uint8)   # right, a little off everywhere
    score = {name: score_rollouts({"real": real, "psnr": g, "psnr_random_actions": g}, (1, 4))
             for name, g in (("right", noisy), ("erased", erased), ("moved", moved))}
    for h in ("1", "4"):
        assert score["right"]["psnr_unusual"][h] > score["right"]["psnr_unusual_copy_last"][h] + 5
        for bad in ("erased", "moved"):        # a few dB lost on whole frames, over 20 where it matters
            whole = score["right"]["psnr"][h] - score[bad]["psnr"][h]
            unusual = score["right"]["psnr_unusual"][h] - score[bad]["psnr_unusual"][h]
            assert whole < 10 and unusual > whole + 10, (bad, h, whole, unusual)
    assert score["moved"]["unusual_share"]["1"] > score["erased"]["unusual_share"]["1"]  # its own sprite counts
    assert not unusual_mask(arena.astype(np.uint8), arena).any()
    assert masked_psnr(real, real, np.zeros(real.shape[:-1], bool)) is None
    from worldmodel.eval_report import format_table
    row = [r for r in format_table({**score["right"], "psnr_unusual": {"1": None, "4": 20.0}}).splitlines()
           if r.startswith("| PSNR where frames stand out")][0]
    assert row.split("|")[2].strip() == "" and row.split("|")[3].strip() == "20.00"   # no such pixels: a blank cell


def test_counterfactual_frames_replay_the_game():
    from worldmodel.data.episodes import episode_seed, play_episode
    from worldmodel.envs import make_env
    from worldmodel.evaluate import counterfactual_frames
    env = make_env("procedural", size=32)
    rng = np.random.default_rng(0)
    eps = [play_episode(env, 12, "sticky", rng, seed=episode_seed(5, i)) for i in range(2)]
    native = np.array([[3, 3, 4], [1, 2, 9]])
    out = counterfactual_frames(env, [episode_seed(5, i) for i in range(2)], eps, [(0, 4), (1, 0)], native)
    assert out.shape == (2, 3, 32, 32, 3)
    env.reset(episode_seed(5, 0))
    for a in eps[0].native[1:5]:
        env.step_native(int(a))
    assert np.array_equal(out[0], np.stack([env.step_native(a)[0] for a in (3, 3, 4)]))
    with pytest.raises(RuntimeError, match="deterministic"):   # wrong seeds: the replay does not match
        counterfactual_frames(env, [123, 456], eps, [(0, 4)], native[:1])


def test_collapse_rule_reports_non_finite():
    real = _real_play()
    r = check_collapse(real[:50], real, finite=False)
    assert r["collapsed"] and not r["finite"]


def test_a_still_game_cannot_freeze():
    """Where the real game itself does not move, a still picture is not a collapse."""
    real = np.repeat(_real_play(1), 50, axis=0)
    assert not check_collapse(real, real)["collapsed"]


def test_eval_command_end_to_end(tiny_world, tmp_path):
    from worldmodel.cli import main
    out = tmp_path / "ev"
    rc = main(["eval", str(tiny_world), "--episodes", "2", "--episode-steps", "70", "--starts", "1",
               "--stability-frames", "40", "--out", str(out), "--device", "cpu"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    for key in ("checkpoint", "env", "seed", "episodes", "resolution", "recon_psnr", "psnr", "psnr_copy_last",
                "psnr_random_actions", "dpsnr", "ssim", "stability", "seconds"):
        assert key in m, key
    assert m["env"] == "procedural" and m["seed"] == 1 and m["resolution"] == [32, 32]
    for key in ("psnr", "psnr_copy_last", "psnr_random_actions", "ssim"):
        assert list(m[key]) == ["1", "4", "16", "64"]
        assert all(np.isfinite(v) for v in m[key].values())
    assert list(m["dpsnr"]) == ["4", "16"]
    assert m["dpsnr"]["4"] == pytest.approx(m["psnr"]["4"] - m["psnr_random_actions"]["4"])
    assert m["stability"]["frames"] == 40 and m["stability"]["finite"] is True
    assert m["stability"]["memory_bounded"] is True and m["stability"]["state_bytes_end"] > 0
    assert set(m["memory"]) == {"4", "8", "16"} and m["memory"]["4"]["real"] == 100.0
    for name in ("report.md", "psnr_horizon.png", "strips.png", "stability.png", "rollout_0.mp4", "one_minute.mp4"):
        assert (out / name).stat().st_size > 0, name
    assert "| PSNR, world, real actions |" in (out / "report.md").read_text()
    assert set(m["action_gap"]) == {"0.3", "1", "3"}
    assert "One-step action gap" in (out / "report.md").read_text()
    assert list(m["sharpness"]) == ["1", "4", "16", "64"] and all(v > 0 for v in m["sharpness"].values())
    # the procedural game replays exactly, so the random-action rollouts get their real counterparts
    assert list(m["psnr_counterfactual"]) == ["1", "4", "16", "64"]
    assert "counterfactual PSNR" in (out / "report.md").read_text()


def test_action_gap_is_zero_exactly_when_actions_change_nothing(tiny_world, recording):
    import torch
    from worldmodel import World
    from worldmodel.data import load_episodes
    from worldmodel.evaluate import action_gap
    _, eps = load_episodes(recording)
    world = World.from_pretrained(tiny_world, device="cpu")
    gap = action_gap(world, eps, clips=32)
    # the untrained tiny world's actions change its output (not for the better: it is random)
    assert all(v["mse_shuffled"] != v["mse"] for v in gap.values()), gap
    with torch.no_grad():
        last = world.denoiser.net.action_mlp[-1]
        last.weight.zero_()
        last.bias.zero_()
        world.denoiser.net.null_action.zero_()                     # every action, and none, embeds to 0
    gap = action_gap(world, eps, clips=32)
    assert all(v["gap_pct"] == 0 and v["mse"] > 0 for v in gap.values()), gap


def test_eval_rejects_short_episodes(tiny_world, tmp_path, capsys):
    from worldmodel.cli import main
    rc = main(["eval", str(tiny_world), "--episode-steps", "10", "--out", str(tmp_path / "x"), "--device", "cpu"])
    assert rc == 2 and "at least 65" in capsys.readouterr().err


def test_state_is_bounded_with_the_kv_cache_only(tiny_world):
    from worldmodel import Action, World
    sizes = {}
    for kv in (True, False):
        w = World.from_pretrained(tiny_world, device="cpu", kv_cache=kv)
        w.reset()
        n = []
        for _ in range(12):
            w.step(Action.press("right"))
            n.append(w.state_bytes())
        sizes[kv] = n
    assert sizes[True][-1] == sizes[True][5]          # window (3) full: no growth
    assert sizes[False][-1] > sizes[False][5]         # reference path keeps every frame
