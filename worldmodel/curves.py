"""`worldmodel curves`: learning curves of dynamics runs against training minutes, in one PNG.

Reads the "eval" events that `train-dynamics --eval-every` writes into RUN/log.jsonl (and the
training loss) and draws, per run (or per chain of runs that continue one another, given as
NAME=RUN1,RUN2,...): the one-step action gap at sigma 1 (on held-out clips, and on
held-out counterfactual branches where the recording has them), PSNR@1 minus copy-last@1,
dPSNR@4 and the loss. Also returns/prints the last point of each run as a table.
"""
from __future__ import annotations

import json
from pathlib import Path

PANELS = (("gap_pct", "one-step action gap at sigma 1 (%)"),
          ("branch_gap_pct", "action gap on held-out branches, sigma 1 (%)"),
          ("psnr1_minus_copy", "PSNR@1 - copy-last@1 (dB)"),
          ("dpsnr4", "dPSNR@4 (dB)"),
          ("sharpness4", "sharpness@4 (world / real detail)"),
          ("loss", "training loss (with any warp loss)"))


def log_rows(path: Path) -> list[dict]:
    """The rows of a training run's log.jsonl in order, without a last line cut short by a kill."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:          # a line cut short by a kill
            continue
    return rows


def read_curves(run: str | Path) -> dict:
    """{"eval": [eval rows in order], "loss": [(train_minutes, loss, step)]} of one run folder."""
    path = Path(run) / "log.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{run} has no log.jsonl (is it a train-dynamics run folder?)")
    evals, loss = [], []
    for row in log_rows(path):
        if row.get("event") == "resume":      # a killed run went on from its last save: what it
            evals = [e for e in evals if e["step"] <= row["step"]]      # logged after it is redone
            loss = [x for x in loss if x[2] < row["step"]]
        elif row.get("event") == "eval":
            evals.append(row)
        elif "loss" in row and "train_minutes" in row:
            loss.append((row["train_minutes"], row["loss"], row["step"]))
    return {"eval": evals, "loss": loss}


def read_chain(runs: list[str | Path]) -> dict:
    """The curves of several runs that continue one another (a campaign resumed into new run
    folders, each a warm start from the previous end) as one curve: each run's minutes and
    steps start where the previous run's ended."""
    evals, loss, minutes, steps = [], [], 0.0, 0
    for run in runs:
        c = read_curves(run)
        evals += [{**e, "train_minutes": e["train_minutes"] + minutes, "step": e["step"] + steps} for e in c["eval"]]
        loss += [(m + minutes, v, st + steps) for m, v, st in c["loss"]]
        last = [e["train_minutes"] for e in c["eval"]] + [m for m, _, _ in c["loss"]]
        minutes += max(last, default=0.0)
        steps += max([e["step"] for e in c["eval"]] + [st for _, _, st in c["loss"]], default=0)
    return {"eval": evals, "loss": loss}


def parse_run(arg: str) -> tuple[str, dict]:
    """A command-line run: a run folder, or NAME=RUN1,RUN2,... for runs chained into one line."""
    if "=" in arg and not Path(arg).exists():
        name, runs = arg.split("=", 1)
        return name, read_chain([r for r in runs.split(",") if r])
    return Path(arg).name, read_curves(arg)


def _value(row: dict, key: str):
    if key == "psnr1_minus_copy":
        return row["psnr1"] - row["copy_last1"]
    v = row.get(key)
    return v.get("1") if isinstance(v, dict) else v


def summary_table(runs: dict[str, dict]) -> str:
    rows = ["| run | step | training min | action gap @1 | branch gap @1 | PSNR@1 - copy@1 | dPSNR@4 |",
            "|---|---|---|---|---|---|---|"]
    for name, c in runs.items():
        if not c["eval"]:
            rows.append(f"| {name} | no eval yet | | | | | |")
            continue
        e = c["eval"][-1]
        bg = _value(e, "branch_gap_pct")
        rows.append(f"| {name} | {e['step']} | {e['train_minutes']:.1f} | {_value(e, 'gap_pct'):.2f}% | "
                    f"{'' if bg is None else f'{bg:.2f}%'} | {_value(e, 'psnr1_minus_copy'):+.2f} | {e['dpsnr4']:+.2f} |")
    return "\n".join(rows)


def plot_curves(runs: list[str | Path], out: str | Path, names: list[str] | None = None, x: str = "minutes") -> str:
    """Draw the runs' curves into `out` (PNG) against training minutes (x="minutes") or steps;
    returns the summary table."""
    if x not in ("minutes", "steps"):
        raise ValueError(f"x must be minutes or steps, got {x!r}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    parsed = [parse_run(str(r)) for r in runs]
    names = names or [n for n, _ in parsed]
    if len(set(names)) != len(names):                     # e.g. a/world and b/world
        names = [str(r) for r in runs]
    data = {n: c for n, (_, c) in zip(names, parsed)}
    fig, grid = plt.subplots(2, 3, figsize=(13, 7), dpi=100)
    axes = grid.ravel()
    for ax, (key, title) in zip(axes, PANELS):
        for i, (name, c) in enumerate(data.items()):
            color = f"C{i % 10}"                  # one colour per run in every panel
            if key == "loss":
                pts = c["loss"]
                if pts:                       # a running mean: single-batch losses are noisy
                    k = min(10, len(pts))
                    xs = [(m if x == "minutes" else st) for m, _, st in pts][k - 1:]
                    ys = [sum(v for _, v, _ in pts[i - k + 1:i + 1]) / k for i in range(k - 1, len(pts))]
                    ax.plot(xs, ys, label=name, lw=1, color=color)
                continue
            pts = [(e["train_minutes"] if x == "minutes" else e["step"], _value(e, key))
                   for e in c["eval"] if _value(e, key) is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, label=name, color=color)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training minutes (this machine)" if x == "minutes" else "training steps")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return summary_table(data)
