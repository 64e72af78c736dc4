"""What a training command does besides training: evaluate the result on held-out episodes, write
`metrics.json` beside it, and tidy the run folder.

This sits above both `worldmodel.train` (which makes checkpoints and never builds a `World`) and
`worldmodel.world` (which plays them): the CLI makes one call here and prints what comes back.
"""
from __future__ import annotations

import json
from pathlib import Path

from .data import load_episodes, split_episodes
from .evaluate import rollout_metrics
from .train.dynamics import finalize, train_dynamics
from .train.distill import distill_world
from .world import World

HORIZONS = (1, 4, 16)


def held_out_episodes(data, seed: int):
    """The validation episodes of a recording, split as the trainers split it."""
    _, eps = load_episodes(data)
    _, val = split_episodes(len(eps), seed=seed)
    return [eps[i] for i in val]


def train_and_evaluate_dynamics(data, autoencoder, out, *, eval_starts: int = 4, seed: int = 0, device=None,
                                **train_kwargs) -> tuple[Path, dict]:
    """Train (or resume) a world with `train_dynamics`, then score it on held-out episodes:
    `eval_starts` rollouts per episode at horizons 1, 4 and 16 against copy-last.
    Returns (the world folder, the metrics written to its metrics.json)."""
    out = Path(train_dynamics(data, autoencoder, out, seed=seed, device=device, **train_kwargs))
    world = World.from_pretrained(out, device=device)
    m = rollout_metrics(world, held_out_episodes(data, seed), horizons=HORIZONS, per_episode=eval_starts,
                        seed=seed, progress=True)
    (out / "metrics.json").write_text(json.dumps(m, indent=2))
    finalize(out)
    return out, m


def distill_and_evaluate(teacher, data, out, cfg, *, eval_starts: int = 4, seed: int = 0, device=None,
                         **distill_kwargs) -> tuple[Path, dict]:
    """Distill a student with `distill_world`, then score student and teacher on the same held-out
    rollouts. Returns (the world folder, {"student": metrics, "teacher": metrics, "settings": ...})."""
    out = Path(distill_world(teacher, data, out, cfg, seed=seed, device=device, **distill_kwargs))
    recording = json.loads((out / "config.json").read_text())["distilled"]["data"]  # the one it trained on
    episodes = held_out_episodes(recording, seed)
    report, settings = {}, {}
    for name, fast in (("student", True), ("teacher", False)):
        world = World.from_pretrained(out, device=device, fast=fast)
        report[name] = rollout_metrics(world, episodes, horizons=HORIZONS, per_episode=eval_starts, seed=seed,
                                       progress=True)
        settings[name] = world.settings()
    (out / "metrics.json").write_text(json.dumps(report, indent=2))
    finalize(out)
    return out, {**report, "settings": settings}
