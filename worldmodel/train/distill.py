"""Distil a world into a few-step student (`worldmodel distill`); resumable after a kill. The
method (the target and the loss) is dynamics/distill.py; this is the loop that feeds it the
recording's latent clips and writes the student."""
from __future__ import annotations

import copy
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from dynamics import Denoiser
from dynamics.distill import DistillConfig, distill_loss

from ..data import load_episodes, split_episodes
from ..world_checkpoint import load_world_parts, save_world, teacher_dir
from ..data import LatentClips
from .dynamics import init_from_world, latent_key, load_or_encode
from .loop import LoopConfig, TrainLoop, read_state


def distill_world(teacher_path, data, out, cfg: DistillConfig, seed: int = 0, device: str | None = None,
                  save_every: float = 120.0, progress: bool = True, source: str | None = None,
                  precision: str = "auto", minutes: float | None = None, init=None) -> Path:
    """Train a student of the world at `teacher_path` on the latent clips of the recording `data`.
    `data` None = the recording the teacher was trained on, if it is still there.
    OUT becomes a world checkpoint (the student), with the teacher copied into OUT/teacher so the
    slow path travels with it. Resumes if OUT holds a killed run. `source` names the teacher in
    the student's config (default: its path). precision: "auto" (bf16 autocast where it is faster,
    as in train_dynamics; the same network), "bf16" or "fp32". minutes: a budget of training time
    kept across resumes (the step count becomes what fits after 50 steps), as in train_dynamics.
    init: a world (usually the student of an earlier version of this teacher) whose network, of the
    same shape and on the same autoencoder, starts the student instead of a copy of the teacher: a
    warm start when the teacher trained on, since its last student already lands near its steps."""
    teacher_path, out = Path(teacher_path), Path(out)
    config, ae, teacher = load_world_parts(teacher_path)
    if "distilled" in config:
        raise ValueError(f"{teacher_path} is already a distilled student; distil its teacher "
                         f"({teacher_dir(teacher_path, config)}) instead")
    if data is None:
        data = _teacher_recording(config)
    meta, episodes = load_episodes(data)
    if meta.get("env") != config.get("env", {}).get("env"):
        raise ValueError(f"{data} holds {meta.get('env')!r} but the teacher learned {config.get('env', {}).get('env')!r}")
    if episodes[0].frames.shape[1] != ae.config.image_size:
        raise ValueError(f"the teacher works at {ae.config.image_size}px but {data} holds {episodes[0].frames.shape[1]}px frames")
    out.mkdir(parents=True, exist_ok=True)
    teacher = teacher.requires_grad_(False)
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    if read_state(out) is not None:     # resuming a killed run: it keeps the start it had
        saved = json.loads((out / "config.json").read_text()).get("distilled", {}) if (out / "config.json").is_file() else {}
        if init is not None and str(init) != saved.get("init"):
            raise ValueError(f"{out} holds a killed run that started from {saved.get('init') or 'a copy of the teacher'}; "
                             f"resume it with the same --init or none")
        init = saved.get("init")
    elif init is not None:              # before the loop is built: its EMA starts from these weights
        init_from_world(student.net, init, teacher.net.config, ae)
    loop = TrainLoop(out, "dynamics", student.net,
                     LoopConfig(steps=cfg.steps, lr=cfg.lr, ema=cfg.ema, warmup=min(100, cfg.steps // 10),
                                precision=precision, save_every=save_every, log_every=25, minutes=minutes),
                     device=device, desc=f"distilling {cfg.teacher_steps}x2 -> {cfg.student_steps} steps",
                     progress=progress)
    dev = loop.device
    teacher, student = teacher.to(dev), student.to(dev)
    train_ids, _ = split_episodes(len(episodes), seed=seed)
    names = [e["name"] for e in meta["episodes"]]
    clips = LatentClips(load_or_encode(ae, episodes, out, dev, latent_key(ae, data, names)), episodes, train_ids,
                        teacher.net.config.context + 1, clock=teacher.net.config.clock)
    _, s_sig = cfg.schedules(teacher.config)
    student_config = {**{k: v for k, v in config.items() if k not in ("trained_steps", "train")},
                      "sampling": {"steps": cfg.student_steps, "guidance_scale": 1.0, "sampler": "euler",
                                   "sigmas": s_sig, **({"warm_start": cfg.warm_start} if cfg.warm_start else {})},
                      "distilled": {"teacher": "teacher", "method": "trajectory", **asdict(cfg),
                                    "seed": seed, "data": str(data), "teacher_source": source or str(teacher_path),
                                    **({"init": str(init)} if init is not None else {})}}
    _copy_teacher(teacher_path, out / "teacher", cfg)
    gen = torch.Generator(dev).manual_seed(seed * 1000 + loop.step)
    rng = np.random.default_rng(seed * 1000 + loop.step)
    loop.log.write(event="start", windows=len(clips), precision="bf16" if loop.bf16 else "fp32", **asdict(cfg))

    def loss_fn(step: int):
        x0, a, m = clips.sample(rng, cfg.batch_size, dev)
        segment = step % cfg.student_steps
        return distill_loss(student, teacher, x0, a, m, cfg, segment=segment, generator=gen), {"segment": segment}

    def save(step: int):
        save_world(out, {**student_config, "trained_steps": step}, ae, Denoiser(loop.trained(), teacher.config),
                   half=True)
        if (teacher_path / "start.png").is_file():
            shutil.copy(teacher_path / "start.png", out / "start.png")

    loop.run(loss_fn, save)
    return out


def _teacher_recording(config: dict) -> str:
    data = config.get("train", {}).get("data")
    if not data or not Path(data, "meta.json").is_file():
        env = config.get("env", {})
        raise ValueError(f"no --data given and the teacher's training recording ({data}) is not here; record one, e.g. "
                         f"`worldmodel record --env {env.get('env', 'ENV')} --size {env.get('size', 64)} --episodes 100 "
                         f"--steps 300 --policy sticky --out data/rec` and pass --data data/rec")
    return data


def _copy_teacher(src: Path, dst: Path, cfg: DistillConfig) -> None:
    """The teacher's checkpoint, with its sampling set to what the student imitates."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and (f.suffix == ".safetensors" and f.name.startswith("model") or
                            f.name in ("MODEL_CARD.md", "start.png", "metrics.json", "log.jsonl")):
            shutil.copy(f, dst / f.name)
    config = json.loads((src / "config.json").read_text())
    config["sampling"] = {**config.get("sampling", {}), "steps": cfg.teacher_steps, "guidance_scale": cfg.guidance,
                          "sampler": "euler", "warm_start": cfg.warm_start}
    (dst / "config.json").write_text(json.dumps(config, indent=2))
