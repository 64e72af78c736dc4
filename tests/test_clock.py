"""The episode clock (DynamicsConfig.clock): a U-Net world that knows how long its episode has run."""
import numpy as np
import pytest
import torch
from conftest import make_tiny_world

from dynamics import Denoiser, DiffusionConfig, DynamicsConfig, build_network, diffusion_loss, network_actions
from worldmodel import Action, World
from worldmodel.action import ACTION_DIM
from worldmodel.data import LatentClips, load_branches, load_episodes


@pytest.fixture(scope="module")
def clock_world(tmp_path_factory):
    """The tiny U-Net world with the clock on and every weight random, so the clock changes frames."""
    from PIL import Image
    from worldmodel.envs import make_env
    path = make_tiny_world(tmp_path_factory.mktemp("world") / "clock", arch="unet", clock=True)
    Image.fromarray(make_env("procedural", size=32).reset(0)).save(path / "start.png")
    return path


def test_clock_is_a_unet_option_read_after_the_action():
    with pytest.raises(ValueError, match="U-Net option"):
        DynamicsConfig(arch="transformer", clock=True)
    cfg = DynamicsConfig(arch="unet", latent_channels=4, latent_size=8, dim=8, depth=1, context=2, clock=True)
    assert cfg.action_inputs == cfg.action_dim + 1
    net = build_network(cfg)
    x, c = torch.zeros(1, 3, 4, 8, 8), torch.zeros(1, 3)
    with pytest.raises(ValueError, match="then the episode clock"):   # the clock channel forgotten
        net(x, c, torch.zeros(1, 3, cfg.action_dim), torch.ones(1, 3, dtype=torch.bool), torch.arange(3))
    acts = torch.zeros(1, 3, cfg.action_dim)
    with pytest.raises(ValueError, match="reads the episode clock"):
        network_actions(cfg, acts, None)
    both = network_actions(cfg, acts, torch.tensor([[4.0, 5.0, 6.0]]))
    assert both.shape == (1, 3, cfg.action_dim + 1) and both[0, :, -1].tolist() == [4.0, 5.0, 6.0]
    plain = DynamicsConfig(arch="unet")
    assert network_actions(plain, acts, None) is acts


def test_a_new_clock_starts_silent_and_then_changes_the_prediction():
    """Zero-initialised clock layers: the network predicts as it did without the clock, whatever the
    clock says (what lets --init give a trained world a clock); with weights, the clock matters,
    and it is not dropped with the action (guidance acts on the action alone)."""
    base = DynamicsConfig(arch="unet", latent_channels=4, latent_size=8, dim=8, depth=1, context=2)
    cfg = DynamicsConfig(**{**base.__dict__, "clock": True, "clock_max": 100})
    torch.manual_seed(0)
    plain = build_network(base)
    for p in plain.parameters():
        torch.nn.init.normal_(p, std=0.1)
    timed = build_network(cfg)
    timed.load_state_dict({**plain.state_dict(), **{k: v for k, v in timed.state_dict().items()
                                                     if k.startswith("clock_mlp.")}})
    g = torch.Generator().manual_seed(1)
    x, c = torch.randn(2, 3, 4, 8, 8, generator=g), torch.rand(2, 3, generator=g)
    acts, on = torch.randn(2, 3, cfg.action_dim, generator=g), torch.ones(2, 3, dtype=torch.bool)
    pos = torch.arange(3)
    with torch.no_grad():
        ref = plain(x, c, acts, on, pos)
        for t in (0.0, 40.0, 500.0):
            out = timed(x, c, network_actions(cfg, acts, torch.full((2, 3), t)), on, pos)
            assert torch.allclose(out, ref, atol=1e-6)   # float rounding only (the action slice's layout)
        for p in timed.clock_mlp.parameters():
            torch.nn.init.normal_(p, std=0.5)
        early = timed(x, c, network_actions(cfg, acts, torch.zeros(2, 3)), on, pos)
        late = timed(x, c, network_actions(cfg, acts, torch.full((2, 3), 60.0)), on, pos)
        later = timed(x, c, network_actions(cfg, acts, torch.full((2, 3), 100.0)), on, pos)
        beyond = timed(x, c, network_actions(cfg, acts, torch.full((2, 3), 900.0)), on, pos)
        off = ~on                                   # the null action: the clock still reaches the frame
        early_off = timed(x, c, network_actions(cfg, acts, torch.zeros(2, 3)), off, pos)
        late_off = timed(x, c, network_actions(cfg, acts, torch.full((2, 3), 60.0)), off, pos)
    assert (early - late).abs().max() > 1e-3
    assert torch.equal(later, beyond)              # past clock_max: as at clock_max
    assert (early_off - late_off).abs().max() > 1e-3


def test_training_clips_carry_each_frames_episode_step(tmp_path):
    """Windows of episodes count from 0; a branch's frame 0 is its parent's step at - past + 1
    (the branch stores the parent's frames from there), and its clock goes on from that step."""
    from worldmodel.data import BranchConfig, record
    from worldmodel.envs import make_env
    from worldmodel.train.dynamics import training_sequences
    recording = tmp_path / "rec"
    record(make_env("procedural", size=32), recording, episodes=3, steps=16, policy="sticky", seed=5, progress=False,
           branches=BranchConfig(points=2, actions=2, steps=3, past=5))
    meta, eps = load_episodes(recording)
    seqs, _, _, starts = training_sequences(recording, meta, eps, list(range(len(eps))))
    branches = load_branches(recording)
    assert len(branches) == 12 and len(seqs) == len(eps) + len(branches) and starts[:len(eps)] == [0] * len(eps)
    assert all(s > 0 for s in starts[len(eps):])
    for (b, br), start in zip(branches, starts[len(eps):]):
        assert np.array_equal(br.frames[0], eps[b["parent"]].frames[start])
        assert np.array_equal(br.frames[b["past"] - 1], eps[b["parent"]].frames[b["at"]])   # the branch point
    lat = [torch.zeros(len(s), 1, 1, 1) for s in seqs]
    clips = LatentClips(lat, seqs, list(range(len(seqs))), 3, clock=True, starts=starts)
    _, a, _ = clips.sample(np.random.default_rng(0), 64, "cpu")
    assert a.shape[-1] == seqs[0].actions.shape[1] + 1
    rows = clips.index[np.random.default_rng(0).integers(0, len(clips.index), 64)]   # the same draw
    for (e, s), got in zip(rows, a):
        assert got[:, -1].tolist() == [starts[e] + s + i for i in range(3)]
        assert torch.equal(got[:, :-1], torch.from_numpy(seqs[e].actions[s:s + 3]))
    _, plain, _ = LatentClips(lat, seqs, list(range(len(seqs))), 3).sample(np.random.default_rng(0), 4, "cpu")
    assert plain.shape[-1] == seqs[0].actions.shape[1]


def test_the_world_counts_its_episode_steps_per_row(clock_world):
    """What the network reads: the new frame's step, reset's clock + 1 on the first step."""
    world = World.from_pretrained(clock_world, seed=3)
    seen = []
    forward = world.denoiser.forward
    world.denoiser.forward = lambda x, s, acts, *a, **k: (seen.append(acts[..., -1].tolist()), forward(x, s, acts, *a, **k))[1]
    world.reset(clock=5)
    world.step(world.action_set[1])
    assert seen[0] == [[5.0]]                       # the start frame's commit
    # the new frame, denoised (cond and uncond batched: guidance 1.5) and committed
    assert len(seen) > 2 and all(v == 6.0 for c in seen[1:] for row in c for v in row)
    world.denoiser.forward = forward
    aset = world.action_set
    world.reset()
    assert world.clock == 0
    for _ in range(3):
        world.step(aset[1])
    assert world.clock == 3
    imgs = [world.start_image()] * 3
    world.reset(imgs, seed=[1, 2, 3], clock=[0, 5, 40])
    world.step([aset[0]] * 3)
    assert world.clock.tolist() == [1, 6, 41]
    fork = world.fork()
    world.reset_rows([1], [imgs[0]], [7])
    assert world.clock.tolist() == [1, 0, 41] and fork.clock.tolist() == [1, 6, 41]
    world.step([aset[0]] * 3)
    assert world.clock.tolist() == [2, 1, 42]
    for bad in (-1, [0, 1], 2.5):
        with pytest.raises(ValueError, match="clock must be"):
            world.reset(imgs, seed=[1, 2, 3], clock=bad)


def test_the_clock_reaches_the_frames_and_the_cache_stays_exact(clock_world, tiny_unet_world):
    """The same start, seed and keys at two episode times give other frames in a clock world and
    the same in a world without one; cached sampling == recomputing the past, clock and all; a
    row restarted in a batch plays as a fresh world (its clock back at 0)."""
    acts = [Action.press(k) for k in ("up", "left", "space", "down", "right", "up")]

    def play(path, clock, **kw):
        w = World.from_pretrained(path, seed=7, steps=2, **kw)
        w.reset(clock=clock)
        return np.stack([w.step(a) for a in acts]), w

    early, _ = play(clock_world, 0)
    late, _ = play(clock_world, 30)
    assert np.abs(early.astype(int) - late.astype(int)).max() > 5
    same0, _ = play(tiny_unet_world, 0)
    same30, _ = play(tiny_unet_world, 30)
    assert np.array_equal(same0, same30)
    fast = World.from_pretrained(clock_world, seed=7, guidance_scale=2.0, steps=2)
    slow = World.from_pretrained(clock_world, seed=7, guidance_scale=2.0, steps=2, kv_cache=False)
    fast.reset(clock=12)
    slow.reset(clock=12)
    for a in acts:
        fast.step(a)
        slow.step(a)
        assert torch.allclose(fast.latent, slow.latent, atol=1e-4)
    # reset_rows: row 1 restarts at step 2 and then matches a fresh single world
    img = World.from_pretrained(clock_world).start_image()
    batch = World.from_pretrained(clock_world, steps=2)
    batch.reset([img, img], seed=[5, 6], clock=[0, 20])
    out = []
    for t, a in enumerate(acts):
        if t == 2:
            batch.reset_rows([1], [img], [9])
        out.append(batch.step([a, a]))
    one = World.from_pretrained(clock_world, steps=2)
    one.reset(img, seed=9)
    for t in range(2, len(acts)):
        assert np.abs(one.step(acts[t]).astype(int) - out[t][1]).max() <= 2


def test_a_world_learns_what_only_the_clock_can_tell():
    """Latent frames that are all zero except at episode step 8, where they are all one: the past
    frames look the same before step 8 as after, so only the clock says when the flash comes. A
    tiny U-Net trained a bounded number of steps with the clock predicts the flash frame (and the
    frame after it) far better than the same network without it."""
    length, clip = 16, 3
    lat = torch.zeros(length, 2, 8, 8)
    lat[8] = 1.0
    episodes = [type("Ep", (), {"actions": np.zeros((length, ACTION_DIM), np.float32),
                                "has_action": np.ones(length, bool)})() for _ in range(4)]
    errors = {}
    for clock in (False, True):
        torch.manual_seed(0)
        cfg = DynamicsConfig(arch="unet", latent_channels=2, latent_size=8, dim=16, depth=1, context=clip - 1,
                             clock=clock, clock_max=length)
        den = Denoiser(build_network(cfg), DiffusionConfig(p_mean=0.4, sigma_max=20.0, p_clean_context=1.0,
                                                           loss_frames="last", short_past=0.0))
        clips = LatentClips([lat] * 4, episodes, range(4), clip, clock=clock)
        opt = torch.optim.AdamW(den.parameters(), lr=1e-2)
        rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
        for _ in range(400):
            x0, a, m = clips.sample(rng, 32, "cpu")
            loss = diffusion_loss(den, x0, a, m, generator=gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
        den.eval()
        with torch.no_grad():                       # one denoising step from pure noise, as a 1-step world
            err = []
            for end in (7, 8, 9):                   # the frame before the flash, the flash, the one after
                x0 = lat[end - clip + 1:end + 1][None].clone()
                a = network_actions(cfg, torch.zeros(1, clip, ACTION_DIM), torch.arange(end - clip + 1, end + 1)[None])
                x = x0.clone()
                x[:, -1] = 20.0 * torch.randn(x0[:, -1].shape, generator=torch.Generator().manual_seed(end))
                sig = torch.tensor([[0.1] * (clip - 1) + [20.0]])
                d = den(x, sig, a, torch.ones(1, clip, dtype=torch.bool), torch.arange(clip), last=1)[:, -1]
                err.append(float((d - x0[:, -1]).pow(2).mean()))
        errors[clock] = err
    # without the clock the flash is a guess (about its rate); with it, it is known
    assert errors[True][1] < 0.05 and errors[False][1] > 0.3, errors
    assert errors[True][0] < 0.05 and errors[True][2] < 0.05, errors


def test_heads_that_read_the_clock_find_an_end_only_the_clock_tells():
    """Frames that all look the same, and episodes that end at step 20: heads without the clock
    can only spread the end over every step; heads with it find the end and nothing else."""
    from worldmodel.train.heads import fit_heads, score_heads
    n_eps, length = 8, 30
    clock = torch.arange(1, length + 1).repeat(n_eps)
    n = len(clock)
    train = {"z_prev": torch.zeros(n, 2, 4, 4), "z": torch.zeros(n, 2, 4, 4), "action": torch.zeros(n, ACTION_DIM),
             "reward": torch.zeros(n), "done": clock == 20, "clock": clock}
    scores = {}
    for with_clock in (False, True):
        heads = fit_heads(train, ACTION_DIM, steps=300, batch=128, noise=0.0, progress=False, clock=with_clock)
        assert heads.config.clock == with_clock and (not with_clock or heads.config.clock_max == length)
        scores[with_clock] = score_heads(heads, train)["episode_end"]
    assert scores[True]["precision"] == 1.0 and scores[True]["recall"] == 1.0, scores
    assert (scores[False]["precision"] or 0.0) < 0.1, scores
    with pytest.raises(ValueError, match="read the episode clock"):
        heads(train["z_prev"][:2], train["z"][:2], train["action"][:2])


def test_a_world_hands_its_heads_each_steps_clock(clock_world, tmp_path):
    """World.step gives clock-reading heads the new frame's episode step (reset's clock + steps),
    read_episode gives frame i the clock i: the same numbers as the heads' fit (transitions)."""
    import shutil
    from dataclasses import asdict
    from dynamics.heads import HeadsConfig, RewardEndHeads
    from worldmodel.checkpoint import load_checkpoint, save_checkpoint
    out = tmp_path / "headed"
    shutil.copytree(clock_world, out)
    config, tensors = load_checkpoint(out)
    torch.manual_seed(0)
    heads = RewardEndHeads(HeadsConfig(latent_channels=4, latent_size=8, action_dim=ACTION_DIM, dim=16, clock=True,
                                       clock_max=50))
    for q in heads.parameters():                    # moderate logits, a clock that matters
        torch.nn.init.normal_(q, std=0.1)
    for q in heads.clock.parameters():
        torch.nn.init.normal_(q, std=1.0)
    config["heads"] = {"config": asdict(heads.config), "metrics": {}}
    tensors.update({f"heads.{k}": v for k, v in heads.state_dict().items()})
    for f in out.glob("*.safetensors"):
        f.unlink()
    save_checkpoint(out, config, tensors)
    world = World.from_pretrained(out, seed=1)
    world.reset(clock=5)
    z0 = world.latent
    frames = [world.frame, world.step(world.action_set[1])]
    _, p = world.heads.predict(z0, world.latent, torch.zeros(1, ACTION_DIM), torch.tensor([6]))
    _, p_wrong = world.heads.predict(z0, world.latent, torch.zeros(1, ACTION_DIM), torch.tensor([1]))
    assert world.end_probability == pytest.approx(float(p[0]), rel=1e-4)
    assert abs(float(p[0]) - float(p_wrong[0])) > 1e-3
    _, read_p = world.read_episode(np.stack(frames * 2), [world.action_set[1]] * 3)
    z = world._encode(np.stack(frames * 2))
    _, want = world.heads.predict(z[:-1], z[1:], torch.zeros(3, ACTION_DIM), torch.arange(1, 4))
    _, other = world.heads.predict(z[:-1], z[1:], torch.zeros(3, ACTION_DIM), torch.arange(21, 24))
    assert np.allclose(read_p, want.numpy(), atol=1e-5) and np.abs(read_p - other.numpy()).max() > 1e-2
