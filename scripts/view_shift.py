"""How far each action moves a game's view sideways in one step, in pixels: for consecutive frames of
a recording, the horizontal shift that best matches the middle band of rows (the walls, in a
first-person view) of the next frame to the frame before it (least squared difference of grey
levels over shifts of up to --max pixels). Per native action: how many steps, the median and
mean shift, and the share of steps that move at all.

Why: a world must carry what its past frame shows to where the next frame shows it. In
defend_the_center a turn moves the view by about half a 4-pixel latent cell a step, so in
patch latents a distant demon's move is a change of its cell's coefficients, not a shift of cells.

    python scripts/view_shift.py DATA [--episodes 60] [--rows 20 44] [--skip 9]
"""
from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from worldmodel.data import load_episode, read_meta


def best_shift(a: np.ndarray, b: np.ndarray, rows: tuple[int, int], max_shift: int) -> int:
    """s such that b[:, x - s] matches a[:, x] best over the band (s > 0: what the frame shows moved
    left, as when the player turns right)."""
    A = a[rows[0]:rows[1]].astype(np.float64).mean(-1)
    B = b[rows[0]:rows[1]].astype(np.float64).mean(-1)
    w = A.shape[1]
    errs = {s: np.mean((A[:, s:] - B[:, :w - s]) ** 2) if s >= 0 else np.mean((A[:, :w + s] - B[:, -s:]) ** 2)
            for s in range(-max_shift, max_shift + 1)}
    return min(errs, key=errs.get)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="a `worldmodel record` folder")
    p.add_argument("--episodes", type=int, default=60, help="the first this many episodes (default 60)")
    p.add_argument("--rows", type=int, nargs=2, default=(20, 44), help="the band of rows compared (default 20 44)")
    p.add_argument("--max", type=int, default=20, help="largest shift tried, in pixels (default 20)")
    p.add_argument("--skip", type=int, default=9, help="first frames of each episode left out (default 9: ViZDoom settles)")
    a = p.parse_args()
    meta = read_meta(a.data)
    shifts = defaultdict(list)
    for e in meta["episodes"][:a.episodes]:
        ep = load_episode(a.data, e["name"])
        for t in range(a.skip, len(ep.frames) - 1):
            shifts[int(ep.native[t + 1])].append(best_shift(ep.frames[t], ep.frames[t + 1], a.rows, a.max))
    actions = meta.get("action_set", [])
    print("| native action | keys | steps | median shift (px) | mean | share that moves |")
    print("|---|---|---|---|---|---|")
    for k in sorted(shifts):
        v = np.array(shifts[k])
        print(f"| {k} | {actions[k] if k < len(actions) else '?'} | {len(v)} | {np.median(v):g} | {v.mean():.2f} | "
              f"{(v != 0).mean():.2f} |")


if __name__ == "__main__":
    main()
