"""Fit the reward and episode-end heads of a world on a recording of its game, and measure them on
held-out episodes (`worldmodel train-heads`). The world's weights are untouched; the heads are
added to its checkpoint (tensors `heads.*`, config block `heads`)."""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dynamics.heads import HeadsConfig, RewardEndHeads, heads_loss, reward_classes

from ..checkpoint import load_checkpoint, save_checkpoint
from ..data import load_episodes, split_episodes
from ..world_checkpoint import build_world_parts, resolve_checkpoint
from .dynamics import encode_episodes
from .loop import LoopConfig, TrainLoop, pick_device, read_state


def transitions(latents: list[torch.Tensor], episodes, ids, history: int = 1) -> dict[str, torch.Tensor]:
    """Every step i >= 1 of the chosen episodes: z_prev, z, the action, reward and end of frame i,
    and its episode clock i. "action" is (n, a), or with `history` > 1 the latest actions (n, k, a)
    (`Episode.action_windows`)."""
    zp, z, a, r, d, c = [], [], [], [], [], []
    for i in ids:
        ep, lat = episodes[i], latents[i]
        if len(ep) < 2:
            continue
        zp.append(lat[:-1])
        z.append(lat[1:])
        a.append(torch.from_numpy(ep.actions[1:] if history == 1 else ep.action_windows(history)[1:]))
        r.append(torch.from_numpy(ep.rewards[1:]))
        d.append(torch.from_numpy(ep.dones[1:]))
        c.append(torch.arange(1, len(ep)))
    if not z:
        raise ValueError("no episode has two frames or more")
    return {"z_prev": torch.cat(zp), "z": torch.cat(z), "action": torch.cat(a), "reward": torch.cat(r),
            "done": torch.cat(d), "clock": torch.cat(c)}


def fit_heads(train: dict, action_dim: int, steps: int = 1500, batch: int = 256, lr: float = 2e-3,
              noise: float = 0.1, seed: int = 0, device=None, progress: bool = True,
              use_action: bool = HeadsConfig.use_action, out: str | Path | None = None,
              save_every: float = 120.0, reward_estimate: str = HeadsConfig.reward_estimate,
              end_estimate: str = HeadsConfig.end_estimate, coords: bool = HeadsConfig.coords,
              reward_steps=None, clock: bool = HeadsConfig.clock) -> RewardEndHeads:
    """Train heads on transitions (dict from `transitions`) on the shared loop (cosine learning
    rate without warm-up, no EMA, fp32). reward_estimate "expected": a plain cross-entropy on the
    reward class, so its probabilities are calibrated; "class": a class-balanced one
    (dynamics/heads.py says why the first is the default). The end flag's loss is balanced.
    `out`: a folder for the resumable state (a killed fit resumes there); None = a temporary one.
    `reward_steps`: a (n,) bool mask of the steps that teach the reward head (the end head learns
    from all); None: all of them. `clock`: the heads also read each step's episode clock
    (train["clock"]; HeadsConfig.clock), up to the latest one in `train`."""
    if out is None:
        with tempfile.TemporaryDirectory() as tmp:
            return fit_heads(train, action_dim, steps, batch, lr, noise, seed, device, progress, use_action, tmp,
                             save_every, reward_estimate, end_estimate, coords, reward_steps, clock)
    torch.manual_seed(seed)
    r = train["reward"]
    if reward_steps is not None:
        if reward_steps.dtype != torch.bool or reward_steps.shape != r.shape:
            raise ValueError(f"reward_steps must be a bool mask of shape {tuple(r.shape)}, got "
                             f"{reward_steps.dtype} {tuple(reward_steps.shape)}")
        if not reward_steps.any():
            raise ValueError("reward_steps leaves no step to fit the reward head on")
    r_fit = r if reward_steps is None else r[reward_steps]      # what the class sizes and values come from
    neg, pos = r_fit[r_fit < 0], r_fit[r_fit > 0]
    counts = torch.bincount(reward_classes(r_fit), minlength=3).float()
    if reward_estimate == "expected":                   # calibrated rewards: every step weighs the same
        class_weight = (counts > 0).float()
    else:         # inverse-frequency weights, capped: a class seen 3 times must not dominate the loss
        class_weight = (counts.sum() / (3 * counts.clamp(min=1))).clamp(max=50.0)
        class_weight[counts == 0] = 0.0
    # The end head is fitted balanced either way (rare ends weighted up, capped), so that a
    # threshold finds them; the weight goes into the config, and `predict` takes it back out.
    n_end = float(train["done"].sum())
    # > 0 as HeadsConfig needs (a recording of nothing but ends would give 0)
    end_weight = max(1e-3, min(50.0, (len(r) - n_end) / max(n_end, 1.0)))
    history = train["action"].shape[1] if train["action"].dim() == 3 and use_action else 1   # (n, k, a) windows
    cfg = HeadsConfig(latent_channels=train["z"].shape[1], latent_size=train["z"].shape[-1], action_dim=action_dim,
                      use_action=use_action, action_history=history, coords=coords, clock=clock,
                      clock_max=max(1, int(train["clock"].max())) if clock else HeadsConfig.clock_max,
                      reward_estimate=reward_estimate, end_estimate=end_estimate,
                      end_weight=end_weight,
                      reward_values=[float(neg.mean()) if len(neg) else -1.0, float(pos.mean()) if len(pos) else 1.0])
    heads = RewardEndHeads(cfg)
    # a killed fit resumes only into the same fit: other heads, data or masking start over (minutes)
    settings = {"use_action": use_action, "action_history": history, "coords": coords, "clock": clock,
                "reward_estimate": reward_estimate, "transitions": len(r),
                "reward_steps": None if reward_steps is None else int(reward_steps.sum())}
    stale = read_state(out)
    if stale is not None and stale.get("settings") != settings:
        if progress:
            tqdm.write(f"{out} holds a killed fit of other heads or data: starting over")
        shutil.rmtree(out, ignore_errors=True)
    loop = TrainLoop(out, "heads", heads,
                     LoopConfig(steps=steps, lr=lr, weight_decay=1e-4, betas=(0.9, 0.999), warmup=0, lr_floor=0.0,
                                clip=None, precision="fp32", save_every=save_every),
                     device=device, desc="reward/end heads", progress=progress, settings=settings)
    dev = loop.device
    gen = torch.Generator().manual_seed(seed + 1000 * loop.step)
    class_weight, end_weight = class_weight.to(dev), torch.tensor(end_weight, device=dev)
    n = len(r)

    def loss_fn(step: int):
        idx = torch.randint(0, n, (min(batch, n),), generator=gen)
        zp, z = train["z_prev"][idx], train["z"][idx]
        zp = zp + noise * torch.randn(zp.shape, generator=gen)
        z = z + noise * torch.randn(z.shape, generator=gen)
        return heads_loss(loop.net, zp.to(dev), z.to(dev), train["action"][idx].to(dev), r[idx].to(dev),
                          train["done"][idx].to(dev), class_weight, end_weight,
                          None if reward_steps is None else reward_steps[idx].to(dev),
                          train["clock"][idx].to(dev) if clock else None)

    loop.run(loss_fn, lambda step: None)
    loop.clear_state()
    return loop.trained().to(dev)


def score_heads(heads: RewardEndHeads, val: dict, device="cpu") -> dict:
    """Precision/recall of reward events (`heads.events`; a hit needs the right sign) and of
    episode ends (the threshold rule of `heads.ends`), with the base rates they are to be read
    against; the summed rewards and end probabilities against the real ones."""
    with torch.no_grad():
        rewards, p_end = [], []
        for i in range(0, len(val["z"]), 1024):
            sl = slice(i, i + 1024)
            rr, pe = heads.predict(val["z_prev"][sl].to(device), val["z"][sl].to(device), val["action"][sl].to(device),
                                   val["clock"][sl].to(device) if heads.config.clock else None)
            rewards.append(rr.cpu())
            p_end.append(pe.cpu())
    estimate, p_end = torch.cat(rewards), torch.cat(p_end)
    pred_end = p_end >= heads.end_threshold            # the threshold rule, whatever end_estimate
    pred = heads.events(estimate)                       # (n,) -1 / 0 / +1
    true_r, true_end = val["reward"], val["done"].bool()

    def pr(pred: torch.Tensor, true: torch.Tensor, hit: torch.Tensor) -> dict:
        tp = int(hit.sum())
        return {"precision": tp / int(pred.sum()) if pred.any() else None,
                "recall": tp / int(true.sum()) if true.any() else None,
                "predicted": int(pred.sum()), "actual": int(true.sum())}

    nz_pred, nz_true = pred != 0, true_r != 0
    out = {"steps": len(true_r),
           "reward_nonzero": pr(nz_pred, nz_true, nz_pred & nz_true & (pred == torch.sign(true_r).long())),
           "episode_end": pr(pred_end, true_end, pred_end & true_end),
           "reward_class_accuracy": float((pred + 1 == reward_classes(true_r)).float().mean()),
           "reward_mae": float((estimate - true_r).abs().mean()),
           # what returns are made of: the heads' rewards summed against the game's
           "reward_sum": {"predicted": float(estimate.sum()), "actual": float(true_r.sum())},
           # what episode lengths are made of: the calibrated P(end) summed against the game's ends
           "end_sum": {"predicted": float(p_end.sum()), "actual": int(true_end.sum())}}
    return out


def train_heads(world: str | Path, data: str | Path | None = None, steps: int = 1500, batch: int = 256,
                seed: int | None = None, device: str | None = None, progress: bool = True,
                use_action: bool = HeadsConfig.use_action, action_history: int = HeadsConfig.action_history,
                coords: bool = HeadsConfig.coords, clock: bool = HeadsConfig.clock, also=(), generated=None,
                rollouts=None,
                reward_estimate: str = HeadsConfig.reward_estimate,
                end_estimate: str = HeadsConfig.end_estimate, world_frames_for: str = "both") -> dict:
    """Fit heads for the world at `world` on `data` (default: its training recording), score them
    on the held-out episodes of the same split, and write them into the world's checkpoint.
    `action_history` > 1 (with `use_action`): the heads read that many of the latest actions.
    `coords`: the heads' conv also reads where each latent pixel lies (HeadsConfig.coords).
    `clock`: the heads also read each step's episode clock (HeadsConfig.clock).
    `also`: more recordings of the same game (folders) whose episodes all join the fit, and the
    world's rollouts of them; the held-out episodes stay those of `data`, so scores compare.

    `generated`, if given, scores the saved world's heads on its own frames of those episodes:
    a function (path, episodes, ids, seed=, device=, progress=) -> dict, kept in
    metrics["generated"]; `worldmodel.evaluate.heads_on_generated` is the one to pass (a
    trainer does not build Worlds itself: imports point down, docs/ARCHITECTURE.md).

    `rollouts`, if given, adds the world's own latent frames of the training episodes to the
    real ones the heads fit on, labelled with the game's rewards and ends: a function (path,
    episodes, ids, seed=, device=, progress=, history=) -> transitions dict;
    `worldmodel.evaluate.heads_rollouts` is the one to pass. `world_frames_for`: which heads those
    frames teach: "both" (the default), or "end" only, the reward head fitting on real frames
    alone. Why "end": over a rollout the world's drawing drifts from the recording, so a reward
    the game paid can land on world frames that do not show what earned it (a shot, but no
    kill), and a reward head fitted on them learns to pay such frames at the recording's rate
    of success, whoever plays. An episode's end is different: it comes of risks no single frame
    settles, and only the world's own frames show the end head how the world draws them.
    Measured in docs/agents/defend_the_center/README.md."""
    if world_frames_for not in ("both", "end"):
        raise ValueError(f"world_frames_for must be 'both' or 'end', got {world_frames_for!r}")
    if world_frames_for == "end" and rollouts is None:
        raise ValueError("world_frames_for='end' needs the world's frames (rollouts)")
    if action_history < 1 or (action_history > 1 and not use_action):
        raise ValueError(f"action_history {action_history}: give 1, or more together with use_action (--with-action)")
    path = resolve_checkpoint(world)
    config, tensors = load_checkpoint(path)                   # read once: built from, then re-saved
    ae, _ = build_world_parts(path, config, tensors)
    train_cfg = config.get("train", {}) or config.get("distilled", {})
    data = data or train_cfg.get("data")
    if data is None or not Path(data).is_dir():
        raise FileNotFoundError(f"no recording to fit the heads on ({data}); pass --data, a `worldmodel record` "
                                f"folder of {config.get('env', {}).get('env', 'its game')}")
    seed = int(train_cfg.get("seed", 0) if seed is None else seed)
    folders = [Path(f).resolve() for f in [data, *also]]
    if len(set(folders)) != len(folders):     # the held-out episodes of --data must stay out of the fit
        raise ValueError(f"--also must name other recordings than --data ({data}) and each only once")
    recordings = []
    for folder in [data, *also]:                       # all checked before any work
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"no recording at {folder}")
        meta, eps = load_episodes(folder, progress=progress)
        if meta.get("env") != config.get("env", {}).get("env") or eps[0].frames.shape[1] != ae.config.image_size:
            raise ValueError(f"{folder} holds {meta.get('env')} at {eps[0].frames.shape[1]}px; the world {path} "
                             f"learned {config.get('env', {}).get('env')} at {ae.config.image_size}px")
        recordings.append(eps)
    episodes = recordings[0]
    dev = pick_device(device)
    latents = encode_episodes(ae.to(dev), episodes, dev)
    train_ids, val_ids = split_episodes(len(episodes), seed=seed)
    # the fit: the training split of `data`, then every episode of the `also` recordings
    fit_eps = [episodes[i] for i in train_ids] + [ep for eps in recordings[1:] for ep in eps]
    fit_lat = [latents[i] for i in train_ids] + [z for eps in recordings[1:] for z in encode_episodes(ae, eps, dev)]
    noise = float(config.get("diffusion", {}).get("context_noise", 0.1))
    run = path / "heads-training"                               # resumable state while fitting
    train = transitions(fit_lat, fit_eps, range(len(fit_eps)), action_history)
    n_real = len(train["z"])
    if rollouts is not None:                  # the world's own frames of the same episodes
        world_steps = rollouts(path, fit_eps, range(len(fit_eps)), seed=seed, device=dev, progress=progress,
                               history=action_history)
        train = {k: torch.cat([train[k], world_steps[k].to(train[k].dtype)]) for k in train}
    reward_steps = None                       # the end head learns from every step; the reward head:
    if world_frames_for == "end" and len(train["z"]) > n_real:
        reward_steps = torch.arange(len(train["z"])) < n_real       # the real steps come first
    heads = fit_heads(train, episodes[0].actions.shape[1], steps, batch,
                      noise=noise, seed=seed, device=dev, progress=progress, use_action=use_action, out=run,
                      coords=coords, reward_steps=reward_steps, clock=clock,
                      reward_estimate=reward_estimate, end_estimate=end_estimate)
    shutil.rmtree(run, ignore_errors=True)
    metrics = score_heads(heads, transitions(latents, episodes, val_ids, action_history), dev)
    metrics.update({"data": str(data), "also": [str(f) for f in also], "train_episodes": len(fit_eps),
                    "val_episodes": len(val_ids),
                    "train_steps": steps, "seed": seed, "fit_on": {"real_steps": n_real,
                                                                  "world_steps": len(train["z"]) - n_real,
                                                                  "world_steps_teach": "both" if reward_steps is None else "end"}})
    tensors = {k: v for k, v in tensors.items() if not k.startswith("heads.")}
    tensors |= {f"heads.{k}": v.detach().cpu() for k, v in heads.state_dict().items()}
    half = any(v.dtype == torch.float16 for v in tensors.values())
    config["heads"] = {"config": asdict(heads.config), "metrics": metrics}
    card = (path / "MODEL_CARD.md").read_text() if (path / "MODEL_CARD.md").is_file() else None
    save_checkpoint(path, config, tensors, half=half, card=card)
    if generated is not None:                # the saved world, heads included, on its own frames
        metrics["generated"] = generated(path, episodes, val_ids, seed=seed, device=dev, progress=progress)
        config["heads"]["metrics"] = metrics
        save_checkpoint(path, config, tensors, half=half, card=card)
    return metrics
