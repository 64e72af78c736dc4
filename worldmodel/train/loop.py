"""The one training loop under every trainer: autoencoder, dynamics, distillation and heads.

A trainer builds its network, says what one step's loss is and how its product is saved; the
loop does the rest the same way for all of them (nanoGPT's train.py, DIAMOND's Trainer):
- the device (a CUDA GPU where there is one, unless told "cpu") and the precision (bf16 autocast
  where measured faster, `common.use_bf16`);
- the optimizer (AdamW, or Muon for the hidden matrices), warm-up + cosine learning rate,
  gradient clipping, an EMA of the weights;
- a progress bar and a JSONL log (RUN/log.jsonl);
- timed saves of the product and of the resumable state, and resuming after a kill;
- a budget of training minutes kept across resumes, and an evaluation every N training minutes.

Resumable state in the run folder: {name}_raw.safetensors (the trained weights),
{name}_ema.safetensors (with an EMA), optimizer*.safetensors (+ .json) and train_state.json
(step, total, training seconds so far, the steps asked for, the trainer's settings).
"""
from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from .common import EMA, JsonlLog, autocast, load_optimizer, save_optimizer, use_bf16

STATE = "train_state.json"


def pick_device(device: str | None = None) -> torch.device:
    """The training device: `device` if given, else a CUDA GPU where there is one, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} asked for, but this torch has no usable CUDA GPU "
                         f"(torch {torch.__version__}); use --device cpu")
    return dev


def read_state(out: str | Path) -> dict | None:
    """The train_state.json of a killed run in `out` (what resuming will restore), or None."""
    f = Path(out) / STATE
    return json.loads(f.read_text()) if f.is_file() else None


def lr_at(step: int, total: int, base: float, warmup: int = 100, floor: float = 0.1) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay from `base` to `floor * base`."""
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def make_optimizer(net: torch.nn.Module, name: str, lr: float, weight_decay: float,
                   betas=(0.9, 0.99)) -> list[torch.optim.Optimizer]:
    """AdamW for every parameter, or Muon (Jordan et al. 2024; torch.optim.Muon) for the 2-D
    weight matrices inside the transformer blocks (parameters named "blocks.*") with AdamW for
    the rest (embeddings, biases, input/output layers), as Muon's authors recommend. Muon's step
    is scaled to AdamW's RMS ("match_rms_adamw"), so one learning rate serves both."""
    if name == "adamw":
        return [torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay, betas=betas)]
    if name != "muon":
        raise ValueError(f"optimizer must be adamw or muon, got {name!r}")
    if not hasattr(torch.optim, "Muon"):
        raise RuntimeError(f"the muon optimizer needs torch >= 2.9 (this is {torch.__version__}); use adamw")
    hidden = [p for n, p in net.named_parameters() if n.startswith("blocks.") and p.ndim == 2]
    ids = {id(p) for p in hidden}
    rest = [p for p in net.parameters() if id(p) not in ids]
    return [torch.optim.Muon(hidden, lr=lr, weight_decay=weight_decay, adjust_lr_fn="match_rms_adamw"),
            torch.optim.AdamW(rest, lr=lr, weight_decay=weight_decay, betas=betas)]


@dataclass
class LoopConfig:
    steps: int                          # optimizer steps asked for (a time budget may lower them)
    lr: float
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.99)
    optimizer: str = "adamw"            # or "muon"
    ema: float | None = None            # EMA decay of the weights; None: no EMA
    warmup: int = 100                   # learning-rate warm-up steps
    lr_floor: float = 0.1               # the cosine ends at lr_floor * lr
    clip: float | None = 1.0            # gradient-norm clipping
    precision: str = "auto"             # auto | bf16 | fp32 (common.use_bf16)
    minutes: float | None = None        # budget of training minutes over the whole run, across resumes
    eval_every: float | None = None     # training minutes between evaluations (needs an evaluate)
    save_every: float = 120.0           # wall-clock seconds between saves
    log_every: int = 50                 # steps between log rows


class TrainLoop:
    """Trains `net` (already built, on the CPU) into run folder `out`; resumes a killed run there.

    After construction, `step` is where training starts (0, or the step a killed run reached),
    `resumed` says which, and `device`/`bf16` are settled, so the trainer can seed its data
    sampling from `step` before calling run()."""

    def __init__(self, out: str | Path, name: str, net: torch.nn.Module, cfg: LoopConfig, *,
                 device: str | torch.device | None = None, desc: str = "training", progress: bool = True,
                 settings: dict | None = None, log: JsonlLog | None = None):
        from accelerate import Accelerator
        self.out, self.name, self.cfg, self.desc, self.progress = Path(out), name, cfg, desc, progress
        self.out.mkdir(parents=True, exist_ok=True)
        dev = device if isinstance(device, torch.device) else pick_device(device)
        self.acc = Accelerator(cpu=dev.type != "cuda")
        self.device = self.acc.device
        self.bf16 = use_bf16(self.device, cfg.precision)
        self.settings = settings or {}
        self.log = log or JsonlLog(self.out / "log.jsonl")
        self.net = net
        self.opts = make_optimizer(net, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.betas)
        self.ema = EMA(net, cfg.ema) if cfg.ema is not None else None
        self.step, self.total, self.train_seconds = 0, cfg.steps, 0.0
        state = read_state(self.out)
        self.resumed = state is not None
        if state is not None:
            self._load(state)
        self.net = self.acc.prepare(net)
        self.loss = float("nan")

    # ----- resumable state ---------------------------------------------------------------
    def _files(self) -> list[tuple[torch.optim.Optimizer, Path]]:
        return [(o, self.out / ("optimizer.safetensors" if i == 0 else f"optimizer{i}.safetensors"))
                for i, o in enumerate(self.opts)]

    def _load(self, state: dict) -> None:
        self.net.load_state_dict(load_file(str(self.out / f"{self.name}_raw.safetensors")))
        if self.ema is not None:
            self.ema.shadow = load_file(str(self.out / f"{self.name}_ema.safetensors"))
        for o, f in self._files():
            load_optimizer(o, f)
        self.step = int(state["step"])
        # an explicit step count that differs from the run's request wins; the same request keeps
        # the total that the time budget had set
        if self.cfg.steps == state.get("requested", state.get("total")):
            self.total = int(state.get("total", self.cfg.steps))
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.log.write(event="resume", step=self.step, train_seconds=round(self.train_seconds, 1))
        if self.progress:
            tqdm.write(f"resuming {self.out} from step {self.step} of {self.total} "
                       f"({self.train_seconds / 60:.1f} training minutes so far)")

    def save_state(self, step: int) -> None:
        """What a killed run needs to go on: raw weights, EMA, optimizer(s), step, settings. Each
        file is written whole and then renamed into place, train_state.json last, so a kill in
        the middle of a save leaves the previous save usable."""
        def tensors(name: str, sd: dict) -> None:
            tmp = self.out / (name + ".tmp")
            save_file({k: v.detach().cpu().contiguous() for k, v in sd.items()}, str(tmp))
            os.replace(tmp, self.out / name)

        tensors(f"{self.name}_raw.safetensors", self.acc.unwrap_model(self.net).state_dict())
        if self.ema is not None:
            tensors(f"{self.name}_ema.safetensors", self.ema.shadow)
        for o, f in self._files():
            save_optimizer(o, f)
        tmp = self.out / (STATE + ".tmp")
        tmp.write_text(json.dumps({"step": step, "total": self.total, "settings": self.settings,
                                   "train_seconds": round(self.train_seconds, 1), "requested": self.cfg.steps}))
        os.replace(tmp, self.out / STATE)

    def clear_state(self) -> None:
        """Drop the resumable state once a run is finished (keeps the folder small)."""
        clear_state(self.out, self.name)

    def trained(self) -> torch.nn.Module:
        """A CPU copy of the network with the weights to ship: the EMA's, or the raw ones."""
        net = copy.deepcopy(self.acc.unwrap_model(self.net)).cpu()
        if self.ema is not None:
            net.load_state_dict({k: v.cpu() for k, v in self.ema.shadow.items()})
        return net.eval()

    # ----- the loop ------------------------------------------------------------------------
    def run(self, loss_fn: Callable[[int], torch.Tensor | tuple], save_fn: Callable[[int], None],
            evaluate: Callable[[int], dict] | None = None) -> None:
        """Train from `step` to `total`. loss_fn(step) -> loss, or (loss, dict of numbers for the
        log), computed under the loop's autocast; save_fn(step) writes the product (it may call
        trained()); evaluate(step) -> dict of numbers for the log (event "eval"), every
        `eval_every` training minutes, at the start of a fresh run and at the end."""
        cfg, acc = self.cfg, self.acc
        eval_s = 60.0 * cfg.eval_every if (evaluate is not None and cfg.eval_every) else None
        next_eval = (self.train_seconds // eval_s + 1) * eval_s if eval_s else None

        def run_eval(step: int):
            t = time.time()
            metrics = evaluate(step)
            self.log.write(event="eval", step=step, train_minutes=round(self.train_seconds / 60, 2),
                           eval_seconds=round(time.time() - t, 1), **metrics)

        def save(step: int):
            save_fn(step)
            self.save_state(step)

        if eval_s and not self.resumed and acc.is_main_process:
            run_eval(0)
        bar = tqdm(total=self.total, initial=self.step, desc=self.desc, disable=not self.progress or not acc.is_main_process)
        start, t_budget = self.step, self.train_seconds
        last_save = time.time()
        while self.step < self.total:
            step, t_step = self.step, time.time()
            if cfg.minutes is not None and (step - start) % 500 == 50:
                # what the time left buys, at the pace measured since this start: set after 50 steps
                # and again every 500 after that (the first steps are slow ones, and the pace drifts), so
                # the run fills its budget instead of stopping early; never past the steps asked for
                per_step = (self.train_seconds - t_budget) / (step - start)
                left = cfg.minutes * 60 - self.train_seconds
                total = min(cfg.steps, max(step + 1, step + int(left / per_step)))
                if total != self.total:
                    self.total = bar.total = total
                    self.log.write(event="budget", minutes=cfg.minutes, seconds_per_step=per_step, total=self.total)
            lr = lr_at(step, self.total, cfg.lr, cfg.warmup, cfg.lr_floor)
            for opt in self.opts:
                for g in opt.param_groups:
                    g["lr"] = lr
            with autocast(self.device, self.bf16):
                out = loss_fn(step)
            loss, info = out if isinstance(out, tuple) else (out, {})
            for opt in self.opts:
                opt.zero_grad(set_to_none=True)
            acc.backward(loss)
            if cfg.clip is not None:
                acc.clip_grad_norm_(self.net.parameters(), cfg.clip)
            for opt in self.opts:
                opt.step()
            if self.ema is not None:
                self.ema.update(acc.unwrap_model(self.net), step)
            if step % cfg.log_every == 0 or step == self.total - 1:
                self.loss = loss.item()
                bar.set_postfix(loss=f"{self.loss:.4f}")
                self.log.write(step=step, loss=self.loss, lr=lr, train_minutes=round(self.train_seconds / 60, 2), **info)
            self.step += 1
            bar.update(1)
            if time.time() - last_save > cfg.save_every and acc.is_main_process:
                self.train_seconds += time.time() - t_step
                t_step = time.time()
                save(self.step)             # (the save's own time counts from here on)
                last_save = time.time()
            self.train_seconds += time.time() - t_step
            if next_eval is not None and self.train_seconds >= next_eval and self.step < self.total and acc.is_main_process:
                run_eval(self.step)
                next_eval += eval_s
        bar.close()
        if acc.is_main_process:
            save(self.total)
            if eval_s:
                run_eval(self.total)
            self.log.write(event="done", step=self.total, train_seconds=round(self.train_seconds, 1))


def clear_state(out: str | Path, name: str) -> None:
    """Delete the resumable state of run folder `out` (see the module docstring)."""
    out = Path(out)
    for f in (f"{name}_raw.safetensors", f"{name}_ema.safetensors", STATE):
        (out / f).unlink(missing_ok=True)
    for f in out.glob("optimizer*.safetensors*"):
        f.unlink()
