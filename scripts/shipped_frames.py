"""Record the frames tests/test_world.py checks every shipped world against: from its start image,
seed 7, the fixed actions below; a distilled student on both paths ("NAME-fast", "NAME-slow").

    python scripts/shipped_frames.py doom          # after shipping a new doom: re-record only it

The file pins what the shipped worlds give, so a refactor that changes a frame fails the test;
re-record a world only when its weights or sampling were changed on purpose, in the same commit.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from worldmodel import Action, World
from worldmodel.world_checkpoint import shipped_worlds

FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "shipped_frames.npz"
ACTIONS = [Action.press("right"), Action.press("left"), Action.press("up"), Action(), Action.press("down"),
           Action.press("space")]


def frames(name: str, fast: bool | None) -> np.ndarray:
    world = World.from_pretrained(name, seed=7, device="cpu", **({} if fast is None else {"fast": fast}))
    return np.stack([world.reset()] + [world.step(a) for a in ACTIONS])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("worlds", nargs="+", choices=shipped_worlds())
    args = p.parse_args()
    saved = dict(np.load(FILE)) if FILE.is_file() else {}
    for name in args.worlds:
        saved = {k: v for k, v in saved.items() if k != name and not k.startswith(name + "-")}
        student = World.from_pretrained(name, device="cpu").fast is not None
        for key, fast in ([(f"{name}-fast", True), (f"{name}-slow", False)] if student else [(name, None)]):
            saved[key] = frames(name, fast)
            print(f"{key}: {saved[key].shape}")
    np.savez_compressed(FILE, **saved)
    print(f"wrote {FILE}")


if __name__ == "__main__":
    main()
