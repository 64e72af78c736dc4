"""Train the dynamics model on latent episodes; resumable after a kill.

Every frame of the recording is encoded once by the (frozen) autoencoder and cached in
RUN/latents.safetensors. Training samples windows of context+1 latent frames. The run folder is a
playable world checkpoint at every save (config.json + model.safetensors, EMA weights), next to
the resumable state (dynamics_raw.safetensors, optimizer.safetensors, train_state.json) and
log.jsonl.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from autoencoder import frames_to_tensor
from autoencoder.train import load_autoencoder
from worldmodel.checkpoint import CheckpointError
from worldmodel.data import load_branches, load_episodes, split_episodes, window_index
from worldmodel.training import EMA, JsonlLog, autocast, load_optimizer, lr_at, save_optimizer, use_bf16

from .diffusion import Denoiser, DiffusionConfig, diffusion_loss
from .presets import PRESETS, DynamicsTrainConfig
from .transformer import DynamicsTransformer


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
    (episodes, min_end, names): min_end[i] is the first frame a training window of sequence i may
    end on (a branch's windows must end on one of its own frames, not inside the past it shares
    with its parent); names are the sequences' folder names (what latent_key hashes)."""
    branches = load_branches(data, parents=ids) if use_branches else []
    seqs = [episodes[i] for i in ids] + [ep for _, ep in branches]
    names = [meta["episodes"][i]["name"] for i in ids] + [b["name"] for b, _ in branches]
    return seqs, [0] * len(ids) + [b["past"] for b, _ in branches], names


def make_optimizer(net, name: str, lr: float, weight_decay: float) -> list[torch.optim.Optimizer]:
    """AdamW for every parameter, or Muon (Jordan et al. 2024; torch.optim.Muon) for the 2-D
    weight matrices inside the transformer blocks with AdamW for the rest (embeddings, biases,
    input/output layers), as Muon's authors recommend. Muon's step is scaled to AdamW's RMS
    ("match_rms_adamw"), so one learning rate serves both."""
    if name == "adamw":
        return [torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.99))]
    if name != "muon":
        raise ValueError(f"optimizer must be adamw or muon, got {name!r}")
    if not hasattr(torch.optim, "Muon"):
        raise RuntimeError(f"the muon optimizer needs torch >= 2.9 (this is {torch.__version__}); use adamw")
    hidden = [p for n, p in net.named_parameters() if n.startswith("blocks.") and p.ndim == 2]
    ids = {id(p) for p in hidden}
    rest = [p for p in net.parameters() if id(p) not in ids]
    return [torch.optim.Muon(hidden, lr=lr, weight_decay=weight_decay, adjust_lr_fn="match_rms_adamw"),
            torch.optim.AdamW(rest, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.99))]


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
    from worldmodel.world import save_world, world_config  # run folders are world checkpoints
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
    resuming = (out / "train_state.json").is_file()
    state0 = json.loads((out / "train_state.json").read_text()) if resuming else {}
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
    from accelerate import Accelerator
    use_cuda = torch.cuda.is_available() and device != "cpu"
    acc = Accelerator(cpu=not use_cuda)
    bf16 = use_bf16(acc.device, precision)
    train_ids, _ = split_episodes(len(episodes), seed=seed)
    seqs, min_end, names = training_sequences(data, meta, episodes, train_ids, branches)
    latents = load_or_encode(ae, seqs, out, acc.device, latent_key(ae, data, names))

    model_cfg = replace(tc.model, latent_channels=ae.config.latent_channels,
                        latent_size=ae.config.latent_size, action_dim=episodes[0].actions.shape[1], **model_over)
    clips = LatentClips(latents, seqs, list(range(len(seqs))), model_cfg.context + 1, min_end=min_end)
    branch_windows = int((clips.index[:, 0] >= len(train_ids)).sum())
    if len(seqs) > len(train_ids) and branch_windows == 0:
        raise ValueError(f"the branches of {data} hold no training window of {model_cfg.context + 1} frames that ends "
                         f"on a branch frame: record them with --branch-past >= {model_cfg.context}")

    torch.manual_seed(seed)
    denoiser = Denoiser(DynamicsTransformer(model_cfg), tc.diffusion)
    if init is not None and not resuming:
        init_from_world(denoiser.net, init, model_cfg, ae)
    opts = make_optimizer(denoiser.net, optimizer, tc.lr, tc.weight_decay)
    ema = EMA(denoiser.net, tc.ema)
    env_meta = {k: meta[k] for k in ("env", "size", "fps", "action_set")}
    sampling = {"steps": tc.sample_steps, "guidance_scale": tc.guidance_scale, "sampler": "euler"}
    config = world_config(ae.config, model_cfg, tc.diffusion, env_meta, sampling,
                          {"preset": preset, "train": {"steps": tc.steps, "batch_size": tc.batch_size, "lr": tc.lr,
                                                       "optimizer": optimizer, "precision": "bf16" if bf16 else "fp32",
                                                       "seed": seed, "data": str(data), "autoencoder": str(autoencoder),
                                                       "init": init,
                                                       "train_episodes": len(train_ids),
                                                       "train_branches": len(seqs) - len(train_ids),
                                                       "train_branch_windows": branch_windows,
                                                       "train_frames": clips.frames}})
    log = JsonlLog(out / "log.jsonl")
    start = 0
    total = tc.steps
    trained_s = 0.0                               # seconds of training so far (saves included, evals not)
    if resuming:  # after a kill
        start, saved_total = load_resumable(out, denoiser.net, ema, opts)
        trained_s = float(state0.get("train_seconds", 0.0))
        # an explicit --steps that differs from the run's request wins; the same request keeps the
        # total the time budget had set
        total = saved_total if steps is None or steps == state0.get("requested", steps) else total
        log.write(event="resume", step=start, train_seconds=round(trained_s, 1))
        if progress:
            tqdm.write(f"resuming {out} from step {start} of {total} ({trained_s / 60:.1f} training minutes so far)")
    denoiser = acc.prepare(denoiser)
    gen = torch.Generator(acc.device).manual_seed(seed * 1000 + start)
    rng = np.random.default_rng(seed * 1000 + start)
    n_params = sum(p.numel() for p in denoiser.parameters())
    log.write(event="start", params=n_params, windows=len(clips), preset=preset, precision="bf16" if bf16 else "fp32",
              optimizer=optimizer, branches=len(seqs) - len(train_ids))

    def ema_denoiser():
        shadow = DynamicsTransformer(model_cfg)
        shadow.load_state_dict({k: v.cpu() for k, v in ema.shadow.items()})
        return Denoiser(shadow, tc.diffusion).eval()

    def save(step: int):
        net = acc.unwrap_model(denoiser).net
        config["train"]["steps"] = total
        # fp16 like the shipped files, so the final evaluation measures exactly what ships
        save_world(out, {**config, "trained_steps": step}, ae, ema_denoiser(), half=True)
        save_resumable(out, net, ema, opts, step, total, train_seconds=trained_s, requested=tc.steps,
                       settings={"lr": tc.lr, "diffusion": asdict(tc.diffusion), "init": init, "seed": seed,
                                 "model": model_over, "optimizer": optimizer, "branches": branches,
                                 "precision": precision, "batch_size": tc.batch_size})
        _write_start_image(out, episodes, seed)

    def run_eval(step: int):
        t = time.time()
        metrics = evaluate(config, ema_denoiser(), ae)
        log.write(event="eval", step=step, train_minutes=round(trained_s / 60, 2),
                  eval_seconds=round(time.time() - t, 1), **metrics)

    eval_s = 60.0 * eval_every if (evaluate is not None and eval_every) else None
    next_eval = (trained_s // eval_s + 1) * eval_s if eval_s else None
    if eval_s and not resuming and acc.is_main_process:
        run_eval(0)
    bar = tqdm(total=total, initial=start, desc=f"dynamics ({n_params / 1e6:.1f}M params)",
               disable=not progress or not acc.is_main_process)
    step = start
    last_save = time.time()
    t_budget = trained_s                          # training seconds when this (re)start began
    while step < total:
        t_step = time.time()
        if minutes is not None and step == start + 50:
            per_step = (trained_s - t_budget) / 50
            left = minutes * 60 - trained_s
            total = min(total, max(step + 1, step + int(left / per_step)))
            bar.total = total
            log.write(event="budget", minutes=minutes, seconds_per_step=per_step, total=total)
        lr = lr_at(step, total, tc.lr)
        for opt in opts:
            for g in opt.param_groups:
                g["lr"] = lr
        x0, a, m = clips.sample(rng, tc.batch_size, acc.device)
        with autocast(acc.device, bf16):
            loss = diffusion_loss(denoiser, x0, a, m, generator=gen)
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(denoiser.parameters(), 1.0)
        for opt in opts:
            opt.step()
        ema.update(acc.unwrap_model(denoiser).net, step)
        if step % 50 == 0 or step == total - 1:
            bar.set_postfix(loss=f"{loss.item():.4f}")
            log.write(step=step, loss=loss.item(), lr=lr, train_minutes=round(trained_s / 60, 2))
        step += 1
        bar.update(1)
        if time.time() - last_save > save_every and acc.is_main_process:
            trained_s += time.time() - t_step
            t_step = time.time()
            save(step)                      # (the save's own time counts from here on)
            last_save = time.time()
        trained_s += time.time() - t_step
        if next_eval is not None and trained_s >= next_eval and step < total and acc.is_main_process:
            run_eval(step)
            next_eval += eval_s
    bar.close()
    if acc.is_main_process:
        save(total)
        if eval_s:
            run_eval(total)
        log.write(event="done", step=total, train_seconds=round(trained_s, 1))
    return out


class LatentClips:
    """Windows of `clip` consecutive latent frames, with their actions, from the training episodes."""

    def __init__(self, latents: list[torch.Tensor], episodes, ids, clip: int, min_end=None):
        self.clip = clip
        self.z = [latents[i] for i in ids]
        self.acts = [torch.from_numpy(episodes[i].actions) for i in ids]
        self.has = [torch.from_numpy(episodes[i].has_action) for i in ids]
        index = window_index([len(x) for x in self.z], clip)
        if min_end is not None and len(index):       # windows must end at or after min_end[seq]
            ends = index[:, 1] + clip - 1
            index = index[ends >= np.asarray([min_end[i] for i in ids])[index[:, 0]]]
        self.index = index
        if len(self.index) == 0:
            raise ValueError(f"training episodes are shorter than a clip of {clip} frames; record longer episodes")

    def __len__(self) -> int:
        return len(self.index)

    @property
    def frames(self) -> int:
        return int(sum(len(x) for x in self.z))

    def sample(self, rng: np.random.Generator, batch: int, device):
        """(x0 (b, t, c, h, w), actions (b, t, a), has_action (b, t)) of `batch` random windows."""
        rows = self.index[rng.integers(0, len(self.index), batch)]
        c = self.clip
        x0 = torch.stack([self.z[e][s:s + c] for e, s in rows]).to(device)
        a = torch.stack([self.acts[e][s:s + c] for e, s in rows]).to(device)
        m = torch.stack([self.has[e][s:s + c] for e, s in rows]).to(device)
        return x0, a, m


def init_from_world(net: DynamicsTransformer, path: str | Path, model_cfg, autoencoder) -> None:
    """Copy the dynamics weights of world checkpoint `path` into `net`: same network shape and
    same autoencoder (its latents are what the weights learned to read) required."""
    from worldmodel.world import load_world_parts, resolve_checkpoint
    _, ae, den = load_world_parts(resolve_checkpoint(path))
    if den.net.config != model_cfg:
        raise ValueError(f"--init {path}: its network {den.net.config} differs from this run's {model_cfg}")
    mine, theirs = autoencoder.state_dict(), ae.state_dict()
    same = ae.config == autoencoder.config and mine.keys() == theirs.keys() and all(
        torch.equal(mine[k].cpu().half(), theirs[k].cpu().half()) for k in mine)   # worlds store fp16
    if not same:
        raise ValueError(f"--init {path}: it was trained on another autoencoder than this run's --autoencoder")
    net.load_state_dict({k: v.float() for k, v in den.net.state_dict().items()})


def _optimizer_files(out: Path, opt) -> list[tuple]:
    """(optimizer, its file) for one optimizer or a list of them (Muon + AdamW)."""
    opts = opt if isinstance(opt, (list, tuple)) else [opt]
    return [(o, out / ("optimizer.safetensors" if i == 0 else f"optimizer{i}.safetensors")) for i, o in enumerate(opts)]


def save_resumable(out: Path, net, ema: EMA, opt, step: int, total: int, settings: dict | None = None,
                   train_seconds: float = 0.0, requested: int | None = None) -> None:
    """Raw weights, EMA, optimizer(s), step and the run's settings: what a killed run needs to go on."""
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()},
              str(out / "dynamics_raw.safetensors"))
    save_file({k: v.detach().cpu().contiguous() for k, v in ema.shadow.items()}, str(out / "dynamics_ema.safetensors"))
    for o, f in _optimizer_files(out, opt):
        save_optimizer(o, f)
    (out / "train_state.json").write_text(json.dumps({"step": step, "total": total, "settings": settings or {},
                                                      "train_seconds": round(train_seconds, 1),
                                                      "requested": requested if requested is not None else total}))


def load_resumable(out: Path, net, ema: EMA, opt) -> tuple[int, int]:
    """Restore what save_resumable wrote; returns (step, total)."""
    state = json.loads((out / "train_state.json").read_text())
    net.load_state_dict(load_file(str(out / "dynamics_raw.safetensors")))
    ema.shadow = load_file(str(out / "dynamics_ema.safetensors"))
    for o, f in _optimizer_files(out, opt):
        load_optimizer(o, f)
    return state["step"], state["total"]


def _write_start_image(out: Path, episodes, seed: int) -> None:
    """The first frame of a held-out episode becomes the world's start image."""
    from PIL import Image
    _, val = split_episodes(len(episodes), seed=seed)
    ep = episodes[val[0] if val else 0]
    Image.fromarray(ep.frames[0]).save(out / "start.png")


def finalize(out: Path) -> None:
    """Drop resumable state once a run is finished and evaluated (keeps the folder small)."""
    for f in ("latents.safetensors", "dynamics_raw.safetensors", "dynamics_ema.safetensors", "train_state.json"):
        (out / f).unlink(missing_ok=True)
    for f in out.glob("optimizer*.safetensors*"):
        f.unlink()
