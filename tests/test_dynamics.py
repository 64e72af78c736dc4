import pytest
import torch

from dynamics import Denoiser, DiffusionConfig, guided, karras_sigmas
from worldmodel import Action, World


def _residual_copy(world, out):
    """A copy of a U-Net world whose denoiser is preconditioned around the previous frame."""
    import json
    import shutil
    shutil.copytree(world, out)
    cfg = json.loads((out / "config.json").read_text())
    cfg["diffusion"]["residual"] = True
    (out / "config.json").write_text(json.dumps(cfg))
    return out


@pytest.mark.parametrize("arch", ["transformer", "unet", "unet-residual"])
def test_kv_cache_equals_full_recomputation(arch, tiny_world, tiny_unet_world, tmp_path):
    """Cached sampling == recomputing every past frame at every denoising step (same noise),
    including past the sliding window (context=3, 8 steps); the U-Net's cache holds frames (and
    gives the residual denoiser its previous frame)."""
    world = {"transformer": tiny_world, "unet": tiny_unet_world}.get(arch) or _residual_copy(tiny_unet_world, tmp_path / "r")
    acts = [Action.press(k) for k in ("up", "left", "space", "down", "right", "up", "up", "left")]
    fast = World.from_pretrained(world, seed=7, guidance_scale=2.0, steps=3)
    slow = World.from_pretrained(world, seed=7, guidance_scale=2.0, steps=3, kv_cache=False)
    fast.reset()
    slow.reset()
    for a in acts:
        fast.step(a)
        slow.step(a)
        assert torch.allclose(fast.latent, slow.latent, atol=1e-4), (fast.latent - slow.latent).abs().max()
    assert fast._state.cache.length == 3  # bounded memory: the window, not the history


@pytest.mark.parametrize("arch", ["transformer", "unet"])
def test_commit_without_prediction_fills_the_cache_the_same(arch, tiny_world, tiny_unet_world):
    """World commits a finished frame with last=0: no prediction comes back, and the cache holds
    exactly what a commit with the full pass leaves; the U-Net does not run its network at all."""
    world = World.from_pretrained(tiny_world if arch == "transformer" else tiny_unet_world)
    den = world.denoiser
    g = torch.Generator().manual_seed(0)
    c, s = den.net.config.latent_channels, den.net.config.latent_size
    x, sig = torch.randn(2, 2, c, s, s, generator=g), torch.full((2, 2), 0.1)
    acts, mask = torch.randn(2, 2, den.net.config.action_dim, generator=g), torch.ones(2, 2, dtype=torch.bool)
    full, bare = den.net.new_cache(), den.net.new_cache()
    with torch.no_grad():
        out = den(x, sig, acts, mask, torch.arange(2), cache=full, commit=True)
        ran = []                                        # the U-Net's first layer, watched
        hook = den.net.conv_in.register_forward_hook(lambda *_: ran.append(1)) if arch == "unet" else None
        none = den(x, sig, acts, mask, torch.arange(2), cache=bare, commit=True, last=0)
    assert out.shape[1] == 2 and none.shape == (2, 0, c, s, s)
    held = (lambda k: [*k.keys, *k.values, k.prev_x]) if arch == "transformer" else \
        (lambda k: [k.x, k.c_noise, k.actions, k.mask])
    assert all(torch.equal(a, b) for a, b in zip(held(full), held(bare)))
    assert torch.equal(full.positions, bare.positions)
    if hook is not None:
        hook.remove()
        assert ran == []


def _denoise_fn(world):
    world.reset()
    acts = torch.from_numpy(Action.press("right").to_vector())[None]
    return lambda x, s, on: world._denoise(x, s, acts.repeat(x.shape[0], 1), on, 1)


def test_guidance_scale_one_and_zero(tiny_world):
    world = World.from_pretrained(tiny_world)
    fn = _denoise_fn(world)
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    on, off = torch.ones(1, dtype=torch.bool), torch.zeros(1, dtype=torch.bool)
    cond, uncond = fn(x, 1.0, on), fn(x, 1.0, off)
    assert not torch.allclose(cond, uncond), "the action must change the prediction"
    assert torch.allclose(guided(fn, x, 1.0, 1.0), cond, atol=1e-5)
    assert torch.allclose(guided(fn, x, 1.0, 0.0), uncond, atol=1e-5)
    # other scales batch cond+uncond in one pass over the shared cache: same as two passes
    assert torch.allclose(guided(fn, x, 1.0, 3.0), uncond + 3.0 * (cond - uncond), atol=1e-4)


def test_karras_schedule():
    s = karras_sigmas(4, DiffusionConfig())
    assert len(s) == 5 and s[0] == pytest.approx(DiffusionConfig().sigma_max) and s[-1] == 0
    assert all(a > b for a, b in zip(s, s[1:]))
    assert abs(s[-2] - DiffusionConfig().sigma_min) < 1e-9


class _Oracle(torch.nn.Module):
    """A stand-in denoiser: exact on the last frame of a clip, off by 1 on the others."""

    def __init__(self, x0, config):
        super().__init__()
        self.x0, self.config = x0, config

    def forward(self, x_noisy, sigma, actions, mask, positions, last=None):
        out = self.x0 + 1.0
        out[:, -1] = self.x0[:, -1]
        return out if last is None else out[:, -last:]


def test_loss_frames_last_ignores_the_past_frames():
    from dynamics import DiffusionConfig, diffusion_loss
    x0 = torch.randn(2, 4, 3, 8, 8)
    a, m = torch.zeros(2, 4, 25), torch.ones(2, 4, dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    assert diffusion_loss(_Oracle(x0, DiffusionConfig(loss_frames="last")), x0, a, m, generator=g) == 0
    assert diffusion_loss(_Oracle(x0, DiffusionConfig()), x0, a, m, generator=g) > 0
    with pytest.raises(ValueError):
        DiffusionConfig(loss_frames="first")


def test_motion_weights_follow_the_past_not_the_target():
    from dynamics.diffusion import motion_weights
    x0 = torch.zeros(1, 4, 2, 8, 8)
    x0[:, 1:, :, 2, 5] = 1.0                  # something appears at (2, 5) in frame 1 and stays
    w = motion_weights(x0, strength=3.0)      # (1, 4, 8, 8)
    assert torch.all(w[:, :2] == 1)           # frames 0 and 1 have no two past frames
    assert w[0, 2, 2, 5] > 1 and w[0, 2, 1, 4] > 1 and w[0, 2, 6, 0] == 1   # 3x3 around the move
    assert torch.all(w[:, 3] == 1)            # frames 1 -> 2 did not move
    for k in range(4):                        # changing frame k leaves the weights of frames 0..k alone
        changed = x0.clone()
        changed[:, k] = torch.randn(2, 8, 8)
        assert torch.equal(motion_weights(changed, 3.0)[:, :k + 1], w[:, :k + 1]), k


def test_residual_denoiser_leaves_what_it_cannot_tell_as_the_previous_frame_had_it(tiny_world, tiny_unet_world):
    """D = p + c_skip (x - p) + c_out F: with F = 0 (a fresh U-Net's zero output layer) the
    estimate from pure noise is the previous frame; the first frame, with none before it, is
    denoised as without the option; and the transformer, whose cache keeps no frames, refuses it."""
    from worldmodel.world_checkpoint import load_world_parts
    _, _, den = load_world_parts(tiny_unet_world)
    net = den.net.float()
    torch.nn.init.zeros_(net.conv_out.weight)
    torch.nn.init.zeros_(net.conv_out.bias)
    plain, res = Denoiser(net, DiffusionConfig()), Denoiser(net, DiffusionConfig(residual=True))
    g = torch.Generator().manual_seed(0)
    c, s = net.config.latent_channels, net.config.latent_size
    x = torch.randn(2, 3, c, s, s, generator=g)
    sig = torch.tensor([[0.1, 0.1, 400.0]] * 2)
    acts, mask = torch.randn(2, 3, net.config.action_dim, generator=g), torch.ones(2, 3, dtype=torch.bool)
    with torch.no_grad():
        out = res(x, sig, acts, mask, torch.arange(3))
        assert torch.allclose(out[:, 2], x[:, 1], atol=1e-4)                     # pure noise -> the frame before
        assert torch.allclose(out[:, 0], plain(x, sig, acts, mask, torch.arange(3))[:, 0])   # none before frame 0
        cache = net.new_cache()                                                  # the same through the cache
        res(x[:, :2], sig[:, :2], acts[:, :2], mask[:, :2], torch.arange(2), cache=cache, commit=True, last=0)
        cached = res(x[:, 2:], sig[:, 2:], acts[:, 2:], mask[:, 2:], torch.arange(2, 3), cache=cache)
        assert torch.allclose(cached[:, 0], out[:, 2], atol=1e-4)
    with pytest.raises(ValueError, match="U-Net"):
        Denoiser(load_world_parts(tiny_world)[2].net, DiffusionConfig(residual=True))


def test_salience_weights_mark_what_the_average_frame_lacks_in_the_frame_and_the_next():
    from dynamics.diffusion import DiffusionConfig, salience_weights
    g = torch.Generator().manual_seed(0)
    x0 = 0.01 * torch.randn(3, 4, 2, 8, 8, generator=g)    # a uniform scene seen by three clips
    x0[1, 2, :, 3, 6] = 2.0                   # one clip shows a small thing at (3, 6) in frame 2 only
    w = salience_weights(x0, strength=5.0)    # (3, 4, 8, 8)
    assert w.min() >= 1
    assert w.max() == 1 + 5.0 * 100           # capped
    high = min(w[1, 2, 3, 6], w[1, 2, 2, 5], w[1, 3, 3, 6])   # the thing, its 3x3 neighbourhood, the frame after
    low = max(w[1, 1, 3, 6], w[0, 2, 3, 6], w[1, 2, 7, 0])    # the frame before it, another clip, far off
    assert high > 3 * low, (high, low)
    assert torch.allclose(salience_weights(x0, 0.0), torch.ones(3, 4, 8, 8))
    with pytest.raises(ValueError):
        DiffusionConfig(salience_weight=-1.0)


def test_conv_stem_and_head_keep_the_cache_exact_and_start_neutral():
    """The optional convolutional stem/head (DynamicsConfig.conv_width) works per frame, so the
    KV-cached pass over the newest frame equals the full pass; zero-initialised, it starts as the
    network without it."""
    import torch
    from dynamics import DynamicsConfig, DynamicsTransformer, KVCache
    base = dict(latent_channels=4, latent_size=8, action_dim=25, dim=32, depth=2, heads=2, context=3)
    torch.manual_seed(0)
    x, c, a = torch.randn(2, 4, 4, 8, 8), torch.randn(2, 4), torch.randn(2, 4, 25)
    m = torch.ones(2, 4, dtype=torch.bool)
    plain, conv = DynamicsTransformer(DynamicsConfig(**base)), DynamicsTransformer(DynamicsConfig(**base, conv_width=16))
    for q in plain.parameters():
        torch.nn.init.normal_(q, std=0.05)
    conv.load_state_dict(plain.state_dict(), strict=False)       # the same weights, fresh conv layers
    assert torch.allclose(plain(x, c, a, m, torch.arange(4)), conv(x, c, a, m, torch.arange(4)), atol=1e-6)
    for q in conv.parameters():
        torch.nn.init.normal_(q, std=0.05)
    full = conv(x, c, a, m, torch.arange(4))
    assert not torch.allclose(full, plain(x, c, a, m, torch.arange(4)), atol=1e-3)
    cache = KVCache(2, 3)
    conv(x[:, :3], c[:, :3], a[:, :3], m[:, :3], torch.arange(3), cache=cache, commit=True)
    last = conv(x[:, 3:], c[:, 3:], a[:, 3:], m[:, 3:], torch.tensor([3]), cache=cache)
    assert torch.allclose(full[:, 3:], last, atol=1e-5)


def test_action_warp_starts_as_identity_and_keeps_the_cache_exact():
    """DynamicsConfig.warp: the previous frame, shifted/zoomed by a transform read from the action,
    is the identity at initialisation, moves the picture once trained weights say so, and stays
    exact under the KV cache (it reads only the frame's own action and the previous frame)."""
    import torch
    from dynamics import DynamicsConfig, DynamicsTransformer, KVCache
    base = dict(latent_channels=4, latent_size=8, action_dim=25, dim=32, depth=2, heads=2, context=3)
    torch.manual_seed(0)
    x, c, a = torch.randn(2, 4, 4, 8, 8), torch.randn(2, 4), torch.randn(2, 4, 25)
    m = torch.ones(2, 4, dtype=torch.bool)
    plain, warped = DynamicsTransformer(DynamicsConfig(**base)), DynamicsTransformer(DynamicsConfig(**base, warp=True))
    for q in plain.parameters():
        torch.nn.init.normal_(q, std=0.05)
    warped.load_state_dict(plain.state_dict(), strict=False)
    assert torch.allclose(plain(x, c, a, m, torch.arange(4)), warped(x, c, a, m, torch.arange(4)), atol=1e-5)
    # a pure horizontal shift of one latent column (2/8 of the [-1, 1] grid): the previous frame moves
    with torch.no_grad():                                       # flow: x displacements 0.25, y 0
        warped.warp_mlp[2].bias.copy_(torch.cat([torch.full((16,), 0.25), torch.zeros(16)]))
    shifted = warped._warp(x, torch.zeros_like(a), m)
    assert torch.allclose(shifted[..., :, :-1], x[..., :, 1:], atol=1e-5)
    for q in warped.parameters():
        torch.nn.init.normal_(q, std=0.05)
    full = warped(x, c, a, m, torch.arange(4))
    cache = KVCache(2, 3)
    warped(x[:, :3], c[:, :3], a[:, :3], m[:, :3], torch.arange(3), cache=cache, commit=True)
    last = warped(x[:, 3:], c[:, 3:], a[:, 3:], m[:, 3:], torch.tensor([3]), cache=cache)
    assert torch.allclose(full[:, 3:], last, atol=1e-5)


def test_unet_warp_starts_as_without_moves_the_previous_frame_and_keeps_the_cache_exact():
    """DynamicsConfig(arch="unet", warp=True): the previous frame, warped by the frame's action,
    joins the stack as one more frame. Its input weights start at zero (the network starts as the
    one without it), a trained flow moves exactly the previous frame as the action says (the null
    action where dropped), and the cached pass over the newest frame equals the full pass."""
    import torch
    from dynamics import DynamicsConfig, FrameCache
    from dynamics.unet import DynamicsUNet
    base = dict(arch="unet", latent_channels=4, latent_size=8, action_dim=25, dim=8, depth=1, context=3)
    torch.manual_seed(0)
    x, c, a = torch.randn(2, 4, 4, 8, 8), torch.randn(2, 4), torch.randn(2, 4, 25)
    m = torch.tensor([[True, True, False, True]] * 2)
    plain, warped = DynamicsUNet(DynamicsConfig(**base)), DynamicsUNet(DynamicsConfig(**base, warp=True))
    for q in plain.parameters():
        torch.nn.init.normal_(q, std=0.05)
    state = {k: v for k, v in plain.state_dict().items() if not k.startswith("conv_in.weight")}
    warped.load_state_dict(state, strict=False)
    with torch.no_grad():
        warped.conv_in.weight[:, :16].copy_(plain.conv_in.weight)     # the stacked frames; the warped one stays 0
    assert torch.allclose(plain(x, c, a, m, torch.arange(4)), warped(x, c, a, m, torch.arange(4)), atol=1e-5)
    # what the network reads: capture the stack, with the flow set to shift one latent column left
    # for the null action only (bias 0.25 = 1/8 of the [-1, 1] width, x displacements first)
    with torch.no_grad():
        warped.warp_mlp[2].bias.copy_(torch.cat([torch.full((16,), 0.25), torch.zeros(16)]))
    seen = []
    hook = warped.conv_in.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    warped(x, c, torch.zeros_like(a), m, torch.arange(4))
    hook.remove()
    stack = seen[0].reshape(2, 4, 5, 4, 8, 8)                    # (b, t, W+2, c, h, w)
    prev = stack[:, 1:, 3]                                       # frame t's previous frame, as stacked
    assert torch.equal(prev, x[:, :3])
    assert torch.allclose(stack[:, 1:, 4][..., :-1], prev[..., 1:], atol=1e-5)   # warped: moved a column
    assert torch.equal(stack[:, 0, 4], torch.zeros_like(x[:, 0]))                 # no previous frame: zeros
    for q in warped.parameters():
        torch.nn.init.normal_(q, std=0.05)
    full = warped(x, c, a, m, torch.arange(4))
    assert not torch.allclose(full, plain(x, c, a, m, torch.arange(4)), atol=1e-3)
    cache = FrameCache(3)
    warped(x[:, :3], c[:, :3], a[:, :3], m[:, :3], torch.arange(3), cache=cache, commit=True)
    last = warped(x[:, 3:], c[:, 3:], a[:, 3:], m[:, 3:], torch.tensor([3]), cache=cache)
    assert torch.allclose(full[:, 3:], last, atol=1e-5)
    # the warp's own loss (diffusion.warp_loss) reaches the U-Net's flow, clock channel and all
    from dynamics.diffusion import warp_loss
    clocked = DynamicsUNet(DynamicsConfig(**base, warp=True, clock=True))
    warp_loss(clocked, x, torch.cat([a, torch.arange(4.0).expand(2, 4)[..., None]], -1), m).backward()
    assert clocked.warp_mlp[2].bias.grad.abs().sum() > 0


def test_bicubic_warp_is_exact_on_whole_cells_and_keeps_more_detail_between_them():
    """DynamicsConfig.warp_mode: both resamplings move a frame by whole latent cells exactly; at
    half a cell bilinear averages neighbours (detail lost every step of a play), bicubic less."""
    import pytest
    import torch
    from dynamics import DynamicsConfig, DynamicsTransformer
    base = dict(latent_channels=4, latent_size=8, action_dim=25, dim=32, depth=1, heads=2, context=3, warp=True)
    with pytest.raises(ValueError, match="warp_mode"):
        DynamicsConfig(**base, warp_mode="nearest-ish")
    x = torch.randn(1, 1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    a, m = torch.zeros(1, 1, 25), torch.ones(1, 1, dtype=torch.bool)
    detail = {}
    for mode in ("bilinear", "bicubic"):
        net = DynamicsTransformer(DynamicsConfig(**base, warp_mode=mode))
        assert torch.equal(net._warp(x, a, m), x)                 # zero flow: the identity
        with torch.no_grad():
            net.warp_mlp[2].bias.copy_(torch.cat([torch.full((16,), 0.25), torch.zeros(16)]))  # one cell
        assert torch.allclose(net._warp(x, a, m)[..., :, :-1], x[..., :, 1:], atol=1e-5)
        with torch.no_grad():
            net.warp_mlp[2].bias.copy_(torch.cat([torch.full((16,), 0.125), torch.zeros(16)]))  # half a cell
        half = net._warp(x, a, m)[..., 1:-2]                       # away from the repeated border
        detail[mode] = (half[..., 1:] - half[..., :-1]).pow(2).mean() / (x[..., 1:] - x[..., :-1]).pow(2).mean()
    assert detail["bilinear"] < 0.3 and detail["bicubic"] > 0.4, detail   # white noise: 0.25 and 0.48


def test_warp_loss_finds_the_shift_of_each_action():
    """The motion-compensation loss alone teaches the warp what each action does: in the
    procedural world the view moves by 1/8 of its width per step, i.e. 0.25 in the warp's
    [-1, 1] coordinates (right: +x, left: -x, down: +y, up: -y)."""
    import numpy as np
    import torch
    from dynamics import DynamicsConfig, DynamicsTransformer
    from dynamics.diffusion import warp_loss
    from worldmodel.data.episodes import play_episode
    from worldmodel.envs import make_env
    env = make_env("procedural", size=32)
    rng = np.random.default_rng(0)
    eps = [play_episode(env, 30, "random", rng, seed=i) for i in range(16)]
    x = torch.from_numpy(np.stack([e.frames[1:6] for e in eps])).float().permute(0, 1, 4, 2, 3) / 255
    a = torch.from_numpy(np.stack([e.actions[1:6] for e in eps]))
    m = torch.from_numpy(np.stack([e.has_action[1:6] for e in eps]))
    torch.manual_seed(0)
    net = DynamicsTransformer(DynamicsConfig(latent_channels=3, latent_size=32, action_dim=a.shape[-1], dim=32,
                                             depth=1, heads=2, warp=True))
    opt = torch.optim.AdamW(net.warp_mlp.parameters(), lr=3e-3)
    for _ in range(200):
        loss = warp_loss(net, x, a, m)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():                                    # mean x and y displacement of the flow field
        shift = {k: net.warp_mlp(torch.from_numpy(env.action_set[k].to_vector()).float()).view(2, -1).mean(1).tolist()
                 for k in (1, 2, 3, 4)}                      # up, down, left, right
    assert shift[4][0] > 0.18 and shift[3][0] < -0.18, shift
    assert shift[2][1] > 0.18 and shift[1][1] < -0.18, shift


def test_short_past_training_clips_look_like_the_start_of_a_play():
    """With the loss on the newest frame only, some training clips keep only their newest past
    frames (DiffusionConfig.short_past): to the U-Net such a clip is exactly the shorter clip, as
    after World.reset, where the past is one frame and grows."""
    from dynamics import DynamicsConfig, build_network
    from dynamics.diffusion import shorten_past
    torch.manual_seed(0)
    net = build_network(DynamicsConfig(arch="unet", latent_channels=4, latent_size=8, action_dim=25, dim=8,
                                       depth=1, heads=2, context=4))
    for q in net.parameters():
        torch.nn.init.normal_(q, std=0.1)
    den = Denoiser(net, DiffusionConfig()).eval()
    x, s, a = torch.randn(64, 5, 4, 8, 8), torch.rand(64, 5) + 0.1, torch.randn(64, 5, 25)
    m = torch.ones(64, 5, dtype=torch.bool)
    for cfg in (DiffusionConfig(loss_frames="all"), DiffusionConfig(loss_frames="last", short_past=0.0)):
        assert shorten_past(cfg, x, s, m)[1] is s                     # the other losses: unchanged
    xs, ss, ms = shorten_past(DiffusionConfig(loss_frames="last", short_past=0.5), x, s, m,
                              torch.Generator().manual_seed(1))
    kept = 4 - (~ms[:, :4]).sum(1)                                   # past frames left per clip
    assert 10 < int((kept < 4).sum()) < 54 and int(kept.min()) >= 1 and torch.equal(ms[:, 4], m[:, 4])
    with torch.no_grad():
        out = den(xs, ss, a, ms, torch.arange(5), last=1)
        for i in range(64):
            k = int(kept[i])
            alone = den(x[i:i + 1, 4 - k:], s[i:i + 1, 4 - k:], a[i:i + 1, 4 - k:], m[i:i + 1, 4 - k:],
                        torch.arange(k + 1), last=1)
            assert torch.allclose(out[i:i + 1], alone, atol=1e-5), (i, k)
