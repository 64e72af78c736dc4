"""The world checkpoint format: a folder with config.json ("kind": "world") and the weights of
its autoencoder ("autoencoder.*") and dynamics network ("dynamics.*"), plus optional reward/end
heads ("heads.*") and, for a distilled student, its teacher in a subfolder. Also where shipped
worlds are found by name, and the autoencoder checkpoint ("kind": "autoencoder").

This sits in the foundation beside checkpoint.py: the trainers write worlds and World reads
them, and neither needs the other.
"""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

from autoencoder import Autoencoder, AutoencoderConfig, build_autoencoder
from dynamics import Denoiser, DiffusionConfig, DynamicsConfig, build_network

from .action import ACTION_DIM
from .checkpoint import CheckpointError, load_checkpoint, load_into, save_checkpoint

WORLD_FORMAT = 1


def shipped_dir() -> Path:
    """The folder of shipped checkpoints (the repository's checkpoints/)."""
    import checkpoints
    return Path(checkpoints.__file__).parent


def shipped_worlds() -> list[str]:
    return sorted(p.name for p in shipped_dir().iterdir() if (p / "config.json").is_file())


def resolve_checkpoint(name_or_path: str | Path | None) -> Path:
    """A checkpoint folder from a path or the name of a shipped world (None = the default)."""
    if name_or_path is None:
        import checkpoints
        name_or_path = checkpoints.DEFAULT
    p = Path(name_or_path)
    if p.exists():
        return p
    if not isinstance(name_or_path, Path) and (shipped_dir() / str(name_or_path) / "config.json").is_file():
        return shipped_dir() / str(name_or_path)           # e.g. "doom/teacher"
    if isinstance(name_or_path, Path) or "/" in str(name_or_path) or os.sep in str(name_or_path):
        raise CheckpointError(f"checkpoint not found: {p}")
    if (shipped_dir() / str(name_or_path)).is_dir():
        return shipped_dir() / str(name_or_path)
    raise CheckpointError(f"no checkpoint folder or shipped world named {str(name_or_path)!r}; "
                          f"shipped worlds: {', '.join(shipped_worlds()) or 'none'}")


def world_config(ae: AutoencoderConfig, dyn: DynamicsConfig, diff: DiffusionConfig, env: dict,
                 sampling: dict, extra: dict | None = None) -> dict:
    return {"kind": "world", "format": WORLD_FORMAT, "autoencoder": asdict(ae), "dynamics": asdict(dyn),
            "diffusion": asdict(diff), "sampling": sampling, "env": env, **(extra or {})}


def save_world(path, config: dict, autoencoder: Autoencoder, denoiser: Denoiser, half: bool = False,
               card: str | None = None) -> Path:
    tensors = {f"autoencoder.{k}": v for k, v in autoencoder.state_dict().items()}
    tensors |= {f"dynamics.{k}": v for k, v in denoiser.net.state_dict().items()}
    return save_checkpoint(path, config, tensors, half=half, card=card)


def teacher_dir(path: Path, config: dict) -> Path | None:
    """The teacher checkpoint of a distilled student (config["distilled"]["teacher"], relative to
    the student's folder), or None for an ordinary world."""
    d = config.get("distilled")
    if not d:
        return None
    return Path(path) / d.get("teacher", "teacher")


def load_heads(path: Path, config: dict, tensors: dict):
    """The reward/episode-end heads of a world (`worldmodel train-heads`), or None."""
    if "heads" not in config:
        return None
    from dynamics.heads import HeadsConfig, RewardEndHeads
    try:
        # heads saved before `use_action` / `reward_estimate` existed read the action / took the likeliest
        # class; before `end_weight` / `end_estimate`, they get 1.0 / "threshold": the same ends as ever
        heads = RewardEndHeads(HeadsConfig(**{"use_action": True, "reward_estimate": "class",
                                              **config["heads"]["config"]}))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}/config.json has a broken heads block: {e}") from e
    load_into(heads, tensors, "heads.", str(path))
    return heads.eval()


def load_world_parts(path: Path) -> tuple[dict, Autoencoder, Denoiser]:
    config, tensors = load_checkpoint(path)
    return (config, *build_world_parts(path, config, tensors))


def build_world_parts(path: Path, config: dict, tensors: dict) -> tuple[Autoencoder, Denoiser]:
    """The autoencoder and denoiser of a loaded world checkpoint (config + tensors)."""
    if config.get("kind") != "world":
        raise CheckpointError(f"{path} is a {config.get('kind', 'unknown')!r} checkpoint, not a world "
                              "(train dynamics on top of an autoencoder to get a playable world)")
    try:
        ae = build_autoencoder(AutoencoderConfig(**config["autoencoder"]))
        net = build_network(DynamicsConfig(**config["dynamics"]))
        diff = DiffusionConfig(**config["diffusion"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}/config.json does not describe a valid world: {e}") from e
    load_into(ae, tensors, "autoencoder.", str(path))
    load_into(net, tensors, "dynamics.", str(path))
    if net.config.action_dim != ACTION_DIM:
        raise CheckpointError(f"{path} was trained with {net.config.action_dim}-dim actions, this version uses {ACTION_DIM}")
    return ae.eval(), Denoiser(net, diff).eval()


def load_autoencoder(path: str | Path) -> Autoencoder:
    """An autoencoder checkpoint (`worldmodel train-autoencoder`), in eval mode."""
    config, tensors = load_checkpoint(path)
    if config.get("kind") != "autoencoder":
        raise CheckpointError(f"{path} is a {config.get('kind', 'unknown')!r} checkpoint, not an autoencoder")
    try:
        ae = build_autoencoder(AutoencoderConfig(**config["autoencoder"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}/config.json does not describe an autoencoder: {e}") from e
    load_into(ae, tensors, "", str(path))
    return ae.eval()
