"""Checkpoints: a folder with `config.json` and `*.safetensors` weights (+ MODEL_CARD.md).

Loading never unpickles anything: safetensors holds raw tensors only, and a folder that holds a
pickle-format file (.pt, .pth, .bin, .ckpt, .pkl) is refused before anything is read, because
reading such a file can run arbitrary code. Weights larger than `shard_mib` are split into
`model-00001-of-0000N.safetensors` files so that each stays small enough for git.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

CONFIG = "config.json"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle")


class CheckpointError(ValueError):
    """A checkpoint folder that is missing, corrupt, unsafe or does not fit the model."""


def save_checkpoint(path: str | Path, config: dict, tensors: dict[str, torch.Tensor],
                    half: bool = False, shard_mib: float = 15.0, card: str | None = None) -> Path:
    """Write config.json + weights. `half` stores float tensors as fp16 (for shipped worlds)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: _prepare(v, half) for k, v in tensors.items()}
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for k, v in tensors.items():
        nbytes = v.numel() * v.element_size()
        if shards[-1] and size + nbytes > shard_mib * 2**20:
            shards.append({})
            size = 0
        shards[-1][k] = v
        size += nbytes
    for old in path.glob("model*.safetensors"):
        old.unlink()
    names = (["model.safetensors"] if len(shards) == 1 else
             [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))])
    for name, shard in zip(names, shards):
        tmp = path / (name + ".tmp")
        save_file(shard, str(tmp), metadata={"format": "pt"})
        os.replace(tmp, path / name)  # atomic: a killed save never leaves a half-written file
    tmp = path / (CONFIG + ".tmp")
    tmp.write_text(json.dumps(config, indent=2))
    os.replace(tmp, path / CONFIG)
    if card is not None:
        (path / "MODEL_CARD.md").write_text(card)
    return path


def _prepare(v: torch.Tensor, half: bool) -> torch.Tensor:
    v = v.detach().to("cpu")
    if half and v.is_floating_point():
        v = v.to(torch.float16)
    return v.contiguous()


def load_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_dir():
        raise CheckpointError(f"a checkpoint is a folder with {CONFIG} and *.safetensors; {path} is a file")
    unsafe = sorted(p.name for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if unsafe:
        raise CheckpointError(
            f"refusing to load {path}: it holds pickle-format file(s) {unsafe}, which can run code "
            "when read. Checkpoints here are config.json + *.safetensors only; remove those files "
            "or convert them with safetensors.")
    cfg = path / CONFIG
    if not cfg.is_file():
        raise CheckpointError(f"{path} has no {CONFIG}; is it a checkpoint folder?")
    try:
        config = json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{cfg} is corrupt (not valid JSON): {e}") from e
    if not isinstance(config, dict):
        raise CheckpointError(f"{cfg} must hold a JSON object")
    return config


def load_checkpoint(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(config, tensors) from a checkpoint folder, with clear errors for every way it can be wrong."""
    path = Path(path)
    config = load_config(path)
    files = sorted(path.glob("model*.safetensors"))
    if not files:
        raise CheckpointError(f"{path} has {CONFIG} but no model*.safetensors weights")
    tensors: dict[str, torch.Tensor] = {}
    for f in files:
        try:
            tensors.update(load_file(str(f)))
        except (SafetensorError, OSError, RuntimeError) as e:
            raise CheckpointError(f"{f} is corrupt or truncated: {e}") from e
    return config, tensors


def load_into(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str, where: str) -> None:
    """Load `prefix`-ed tensors into `module`, naming every missing, extra or misshapen key."""
    own = module.state_dict()
    sub = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing = sorted(set(own) - set(sub))
    extra = sorted(set(sub) - set(own))
    shapes = [f"{k}: checkpoint {tuple(sub[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in sub and sub[k].shape != own[k].shape]
    if missing or extra or shapes:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s), e.g. {missing[:3]}")
        if extra:
            parts.append(f"unexpected {len(extra)} tensor(s), e.g. {extra[:3]}")
        if shapes:
            parts.append("shape mismatch: " + "; ".join(shapes[:3]))
        raise CheckpointError(f"{where}: weights do not fit the model in its config.json ({', '.join(parts)})")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in sub.items()})
