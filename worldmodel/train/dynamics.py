"""Train the dynamics model on latent episodes; resumable after a kill.

Every frame of the recording is encoded once by the (frozen) autoencoder and cached in
RUN/latents.safetensors. Training samples windows of context+1 latent frames. The run folder is a
playable world checkpoint at every save (config.json + model.safetensors, EMA weights), next to
the resumable state (dynamics_raw.safetensors, optimizer.safetensors, train_state.json) and
log.jsonl.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from autoencoder import frames_to_tensor
from dynamics import PRESETS, Denoiser, DiffusionConfig, DynamicsTrainConfig, build_network, diffusion_loss

from ..checkpoint import CheckpointError
from ..data import LatentClips, load_branches, load_episodes, split_episodes
from ..world_checkpoint import load_autoencoder, load_world_parts, resolve_checkpoint, save_world, world_config
from .loop import LoopConfig, TrainLoop, clear_state, read_state


@torch.no_grad()
def encode_episodes(ae, episodes, device, batch: int = 256) -> list[torch.Tensor]:
    out = []
    for ep in episodes:
        zs = [ae.encode(frames_to_tensor(ep.frames[i:i + batch]).to(device)).float().cpu()
              for i in range(0, len(ep), batch)]
        out.append(torch.cat(zs))  # (n, c, h, w)
    return out


def latent_key(ae, data, names: list[str]) -> str:
    """What a latent cache was made from: the autoencoder's weights, the recording and the names
    of the sequences in order (so another split, recording or autoencoder never reuses it)."""
    h = hashlib.sha1()
    for k, v in sorted(ae.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().float().contiguous().numpy().tobytes())
    h.update(str(Path(data).resolve()).encode())
    h.update("\n".join(names).encode())
    return h.hexdigest()


def load_or_encode(ae, episodes, out: Path, device, key: str | None = None) -> list[torch.Tensor]:
    """Latents of every episode (and branch) in order, cached in OUT/latents.safetensors. With a
    `key` (latent_key) the cache is used only if it was made from the same inputs."""
    cache = out / "latents.safetensors"
    if cache.is_file():
        with safe_open(str(cache), "pt") as f:
            made_from = (f.metadata() or {}).get("key")
        if key is None or made_from == key:
            z = load_file(str(cache))
            if len(z) == len(episodes) and all(z[f"ep{i}"].shape[0] == len(e) for i, e in enumerate(episodes)):
                return [z[f"ep{i}"] for i in range(len(episodes))]
    latents = encode_episodes(ae.to(device), episodes, device)
    tmp = cache.with_suffix(".tmp")             # a new file: a hard-linked cache elsewhere stays intact
    save_file({f"ep{i}": z.contiguous() for i, z in enumerate(latents)}, str(tmp),
              metadata={"key": key} if key else None)
    os.replace(tmp, cache)
    return latents


def training_sequences(data, meta, episodes, ids, use_branches: bool = True):
    """The latent-training sequences of recording `data` (its meta.json `meta`): the episodes
    `ids`, then the counterfactual branches of those episodes (worldmodel.data.episodes), as
    (episodes, min_end, names, starts): min_end[i] is the first frame a training window of
    sequence i may end on (a branch's windows must end on one of its own frames, not inside the
    past it shares with its parent); names are the sequences' folder names (what latent_key
    hashes); starts[i] is the episode step of sequence i's first frame (its episode clock)."""
    branches = load_branches(data, parents=ids) if use_branches else []
    seqs = [episodes[i] for i in ids] + [ep for _, ep in branches]
    names = [meta["episodes"][i]["name"] for i in ids] + [b["name"] for b, _ in branches]
    starts = [0] * len(ids) + [b["at"] - b["past"] + 1 for b, _ in branches]    # a branch's frame 0: parent's at-past+1
    return seqs, [0] * len(ids) + [b["past"] for b, _ in branches], names, starts


def train_dynamics(data: str | Path, autoencoder: str | Path, out: str | Path, preset: str = "tiny",
                   steps: int | None = None, batch_size: int | None = None, seed: int = 0,
                   device: str | None = None, save_every: float = 120.0, progress: bool = True,
                   overrides: dict | None = None, minutes: float | None = None,
                   init: str | Path | None = None, precision: str | None = None,
                   evaluate=None, eval_every: float | None = None, branches: bool | None = None) -> Path:
    """Returns the run folder, which is a world checkpoint.

    minutes: a budget of training time (evaluations excluded) over the whole run, kept across
    resumes: after 50 steps the total step count is set to what fits (the LR schedule follows).
    init: a world checkpoint with the same network shape to start from (fine-tuning).
    precision: "auto" (bf16 autocast where it is faster: CUDA, and CPUs with native bf16), "bf16",
    "fp32"; None = the preset's (auto, but fp32 for `tiny`, whose steps bf16 slows down), or what
    a resumed run began with.
    evaluate(world_config, denoiser, autoencoder) -> dict: called on the EMA network every `eval_every`
    minutes of training and at the end; its numbers go into log.jsonl (event "eval") with the
    step and the training minutes so far, the learning curve of the run.
    overrides: preset fields to change, plus "diffusion" and "model" dicts of DiffusionConfig /
    DynamicsConfig fields and "optimizer" ("adamw" or "muon"). A resumed run keeps the settings
    it began with unless they are given again. branches: also train on the recording's
    counterfactual branches of the training episodes (if it has any; None = True, or what a
    resumed run began with)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown dynamics preset {preset!r}; choose from {sorted(PRESETS)}")
    tc: DynamicsTrainConfig = PRESETS[preset]
    out = Path(out)
    overrides = dict(overrides or {})
    diffusion = overrides.pop("diffusion", None)  # a dict of DiffusionConfig fields to change
    model_over = overrides.pop("model", None)     # a dict of DynamicsConfig fields to change
    optimizer = overrides.pop("optimizer", None)
    # A resumed run keeps every setting it began with; given again, lr and loss settings may
    # change (a deliberate schedule change), while the seed (the train/held-out split), the
    # network and the optimizer may not.
    state0 = read_state(out) or {}
    resuming = bool(state0)
    saved = state0.get("settings", {})
    model_over = {**saved.get("model", {}), **(model_over or {})}
    optimizer = optimizer or saved.get("optimizer", "adamw")
    branches = branches if branches is not None else saved.get("branches", True)
    if resuming:
        for name, now, before in (("seed", seed, saved.get("seed", seed)),
                                  ("network (--model)", model_over, saved.get("model", {})),
                                  ("optimizer", optimizer, saved.get("optimizer", "adamw")),
                                  ("branches", branches, saved.get("branches", True))):
            if now != before:
                raise ValueError(f"{out} was started with {name} {before!r}, not {now!r}; resume it with the "
                                 "same setting or train into a new --out folder")
        steps = steps if steps is not None else state0.get("requested")
    if saved and "lr" not in overrides:
        overrides["lr"] = saved["lr"]
    if saved:
        tc = replace(tc, diffusion=DiffusionConfig(**saved["diffusion"]))
        batch_size = batch_size if batch_size is not None else saved.get("batch_size")
    precision = precision or saved.get("precision") or tc.precision
    init = str(init) if init is not None else saved.get("init")
    tc = replace(tc, steps=tc.steps if steps is None else steps,
                 batch_size=tc.batch_size if batch_size is None else batch_size, **overrides)
    if diffusion:
        tc = replace(tc, diffusion=replace(tc.diffusion, **diffusion))
    meta, episodes = load_episodes(data)          # check the inputs before creating anything
    try:
        ae = load_autoencoder(autoencoder)
    except CheckpointError as e:
        raise CheckpointError(f"--autoencoder: {e}") from e
    if episodes[0].frames.shape[1] != ae.config.image_size:
        raise ValueError(f"autoencoder {autoencoder} works at {ae.config.image_size}px but {data} holds "
                         f"{episodes[0].frames.shape[1]}px frames")
    out.mkdir(parents=True, exist_ok=True)
    train_ids, _ = split_episodes(len(episodes), seed=seed)
    seqs, min_end, names, starts = training_sequences(data, meta, episodes, train_ids, branches)
    if model_over.get("clock") and "clock_max" not in model_over:   # the latest step the recording shows
        model_over = {**model_over, "clock_max": max(s + len(q) - 1 for s, q in zip(starts, seqs))}
    model_cfg = replace(tc.model, latent_channels=ae.config.latent_channels,
                        latent_size=ae.config.latent_size, action_dim=episodes[0].actions.shape[1], **model_over)
    torch.manual_seed(seed)
    denoiser = Denoiser(build_network(model_cfg), tc.diffusion)
    if init is not None and not resuming:
        init_from_world(denoiser.net, init, model_cfg, ae)
    settings = {"lr": tc.lr, "diffusion": asdict(tc.diffusion), "init": init, "seed": seed, "model": model_over,
                "optimizer": optimizer, "branches": branches, "precision": precision, "batch_size": tc.batch_size}
    loop = TrainLoop(out, "dynamics", denoiser.net,
                     LoopConfig(steps=tc.steps, lr=tc.lr, weight_decay=tc.weight_decay, optimizer=optimizer, ema=tc.ema,
                                precision=precision, minutes=minutes, eval_every=eval_every, save_every=save_every),
                     device=device, progress=progress, settings=settings)
    latents = load_or_encode(ae, seqs, out, loop.device, latent_key(ae, data, names))
    clips = LatentClips(latents, seqs, list(range(len(seqs))), model_cfg.context + 1, min_end=min_end,
                        clock=model_cfg.clock, starts=starts)
    branch_windows = int((clips.index[:, 0] >= len(train_ids)).sum())
    if len(seqs) > len(train_ids) and branch_windows == 0:
        raise ValueError(f"the branches of {data} hold no training window of {model_cfg.context + 1} frames that ends "
                         f"on a branch frame: record them with --branch-past >= {model_cfg.context}")
    env_meta = {k: meta[k] for k in ("env", "size", "fps", "action_set")}
    sampling = {"steps": tc.sample_steps, "guidance_scale": tc.guidance_scale, "sampler": "euler"}
    config = world_config(ae.config, model_cfg, tc.diffusion, env_meta, sampling,
                          {"preset": preset, "train": {"steps": tc.steps, "batch_size": tc.batch_size, "lr": tc.lr,
                                                       "optimizer": optimizer,
                                                       "precision": "bf16" if loop.bf16 else "fp32",
                                                       "seed": seed, "data": str(data), "autoencoder": str(autoencoder),
                                                       "init": init,
                                                       "train_episodes": len(train_ids),
                                                       "train_branches": len(seqs) - len(train_ids),
                                                       "train_branch_windows": branch_windows,
                                                       "train_frames": clips.frames}})
    n_params = sum(p.numel() for p in denoiser.parameters())
    loop.desc = f"dynamics ({n_params / 1e6:.1f}M params)"
    loop.log.write(event="start", params=n_params, windows=len(clips), preset=preset,
                   precision="bf16" if loop.bf16 else "fp32", optimizer=optimizer, branches=len(seqs) - len(train_ids))
    denoiser = denoiser.to(loop.device)
    gen = torch.Generator(loop.device).manual_seed(seed * 1000 + loop.step)
    rng = np.random.default_rng(seed * 1000 + loop.step)

    def ema_denoiser():
        return Denoiser(loop.trained(), tc.diffusion).eval()

    def loss_fn(step: int):
        x0, a, m = clips.sample(rng, tc.batch_size, loop.device)
        return diffusion_loss(denoiser, x0, a, m, generator=gen)

    def save(step: int):
        config["train"]["steps"] = loop.total
        # fp16 like the shipped files, so the final evaluation measures exactly what ships
        save_world(out, {**config, "trained_steps": step}, ae, ema_denoiser(), half=True)
        _write_start_image(out, episodes, seed)

    loop.run(loss_fn, save, None if evaluate is None else lambda step: evaluate(config, ema_denoiser(), ae))
    return out


def init_from_world(net: torch.nn.Module, path: str | Path, model_cfg, autoencoder) -> None:
    """Copy the dynamics weights of world checkpoint `path` into `net`: same network shape and
    same autoencoder (its latents are what the weights learned to read) required; the warp's
    resampling (warp_mode) may change, and a world without the episode clock may be given one
    (`net`'s own clock layers stay: zero-initialised, so the copy plays as the world did until
    trained, or, in a student copied from a teacher with the clock, the teacher's)."""
    _, ae, den = load_world_parts(resolve_checkpoint(path))
    theirs_cfg = den.net.config
    # fields that change how the weights are used, not which weights there are
    adding_clock = model_cfg.clock and not theirs_cfg.clock
    if replace(theirs_cfg, warp_mode=model_cfg.warp_mode,
               **({"clock": True, "clock_max": model_cfg.clock_max} if adding_clock else {})) != model_cfg:
        differ = {k: (getattr(theirs_cfg, k), getattr(model_cfg, k)) for k in theirs_cfg.__dataclass_fields__
                  if getattr(theirs_cfg, k) != getattr(model_cfg, k)}
        raise ValueError(f"--init {path}: its network differs from this run's in "
                         + ", ".join(f"{k} ({a!r} there, {b!r} here)" for k, (a, b) in differ.items())
                         + "; set them with --model FIELD=VALUE")
    mine, theirs = autoencoder.state_dict(), ae.state_dict()
    same = ae.config == autoencoder.config and mine.keys() == theirs.keys() and all(
        torch.equal(mine[k].cpu().half(), theirs[k].cpu().half()) for k in mine)   # worlds store fp16
    if not same:
        raise ValueError(f"--init {path}: it was trained on another autoencoder than this run's --autoencoder")
    weights = {k: v.float() for k, v in den.net.state_dict().items()}
    if adding_clock:                                   # net's own clock layers stay
        weights |= {k: v for k, v in net.state_dict().items() if k.startswith("clock_mlp.")}
    net.load_state_dict(weights)


def _write_start_image(out: Path, episodes, seed: int) -> None:
    """The first frame of a held-out episode becomes the world's start image."""
    from PIL import Image
    _, val = split_episodes(len(episodes), seed=seed)
    ep = episodes[val[0] if val else 0]
    Image.fromarray(ep.frames[0]).save(out / "start.png")


def finalize(out: Path) -> None:
    """Drop the latent cache and the resumable state once a run is finished and evaluated."""
    (Path(out) / "latents.safetensors").unlink(missing_ok=True)
    clear_state(out, "dynamics")


def synthetic_step(preset: str, latent_channels: int, latent_size: int, action_dim: int, model: dict | None = None,
                   batch_size: int | None = None, optimizer: str = "adamw", device: str | None = None):
    """One training step of `preset` on fixed random latents of the given shape (the real loss,
    backward and optimizer step), as a function step(bf16: bool) -> None: for timing a preset on
    a machine before training on it (`seconds_per_step`, scripts/train_step_time.py)."""
    from .common import autocast
    from .loop import make_optimizer, pick_device
    tc = PRESETS[preset]
    dev = pick_device(device)
    cfg = replace(tc.model, latent_channels=latent_channels, latent_size=latent_size, action_dim=action_dim,
                  **(model or {}))
    gen = torch.Generator(dev).manual_seed(0)
    torch.manual_seed(0)                        # the initial weights (nn.Module init draws from it)
    den = Denoiser(build_network(cfg), tc.diffusion).to(dev)
    opts = make_optimizer(den.net, optimizer, tc.lr, tc.weight_decay)
    b, t = batch_size or tc.batch_size, cfg.context + 1
    x0 = torch.randn(b, t, latent_channels, latent_size, latent_size, generator=gen, device=dev)
    acts = torch.rand(b, t, cfg.action_inputs, generator=gen, device=dev)     # (with a clock: a random one)
    has = torch.ones(b, t, dtype=torch.bool, device=dev)

    def step(bf16: bool) -> None:
        with autocast(dev, bf16):
            loss = diffusion_loss(den, x0, acts, has, generator=gen)
        for o in opts:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in opts:
            o.step()

    return step


def seconds_per_step(preset: str, latent_channels: int, latent_size: int, action_dim: int, model: dict | None = None,
                     steps: int = 3, device: str | None = None) -> float:
    """Median seconds of one training step of `preset` at its batch size and precision, after one
    warm-up step: what a time budget buys, told before training."""
    import statistics
    import time
    from .common import use_bf16
    from .loop import pick_device
    step = synthetic_step(preset, latent_channels, latent_size, action_dim, model, device=device)
    bf16 = use_bf16(pick_device(device), PRESETS[preset].precision)
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        step(bf16)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])
