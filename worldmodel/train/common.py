"""What the training loop (loop.py) is built from: optimizer state saved without pickle, a JSONL
log, an EMA of the weights, and the choice of precision."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def save_optimizer(opt: torch.optim.Optimizer, path: Path) -> None:
    """Optimizer state as safetensors + JSON (torch.save would pickle)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{k}"] = v
    save_file(tensors, str(path) + ".tmp")
    os.replace(str(path) + ".tmp", path)
    Path(str(path) + ".json.tmp").write_text(json.dumps({"param_groups": sd["param_groups"], "scalars": scalars}))
    os.replace(str(path) + ".json.tmp", str(path) + ".json")


def load_optimizer(opt: torch.optim.Optimizer, path: Path) -> None:
    tensors = load_file(str(path))
    extra = json.loads(Path(str(path) + ".json").read_text())
    state: dict[int, dict] = {}
    for key, v in list(tensors.items()) + list(extra["scalars"].items()):
        idx, k = key.split(".", 1)
        state.setdefault(int(idx), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": extra["param_groups"]})


class JsonlLog:
    def __init__(self, path: Path):
        self.path = path

    def write(self, **row) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"time": round(time.time(), 1), **row}) + "\n")


class EMA:
    """Exponential moving average of weights, with the usual warm-up so short runs benefit too."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.999):
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            if self.shadow[k].device != v.device:  # follow the model onto its device, once
                self.shadow[k] = self.shadow[k].to(v.device)
            if v.is_floating_point():
                self.shadow[k].lerp_(v.detach().float(), 1 - d)
            else:
                self.shadow[k].copy_(v)


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bf16 autocast speeds training up on this device: CUDA GPUs with bf16, and CPUs
    whose oneDNN has native bf16 kernels (AVX512_BF16 or AMX; measured 1.29x faster on this
    project's 2-core Zen 5, docs/TRAINING.md). Elsewhere bf16 on a CPU is emulated and slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


PRECISIONS = ("auto", "bf16", "fp32")


def use_bf16(device: torch.device, precision: str = "auto") -> bool:
    """precision: "bf16" (autocast), "fp32", or "auto" (bf16 where bf16_is_fast says it pays)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision == "bf16" or (precision == "auto" and bf16_is_fast(device))


def autocast(device: torch.device, bf16: bool):
    """Mixed precision for a training step: matmuls in bf16, weights, optimizer and loss in fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
