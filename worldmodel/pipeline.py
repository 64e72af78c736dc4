"""What a training command does besides training: evaluate the result on held-out episodes, write
`metrics.json` beside it, and tidy the run folder.

This sits above both `worldmodel.train` (which makes checkpoints and never builds a `World`) and
`worldmodel.world` (which plays them): the CLI makes one call here and prints what comes back.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from .curves import log_rows
from .data import held_out_episodes, load_episodes, read_meta
from .evaluate import heads_on_generated, heads_rollouts, recording_settle_frames, rollout_metrics
from dynamics import PRESETS
from .train.dynamics import finalize, seconds_per_step, train_dynamics
from .train.distill import distill_world
from .world import World

HORIZONS = (1, 4, 16)


def train_and_evaluate_dynamics(data, autoencoder, out, *, eval_starts: int = 4, seed: int = 0, device=None,
                                **train_kwargs) -> tuple[Path, dict]:
    """Train (or resume) a world with `train_dynamics`, then score it on held-out episodes:
    `eval_starts` rollouts per episode at horizons 1, 4 and 16 against copy-last.
    Returns (the world folder, the metrics written to its metrics.json)."""
    out = Path(train_dynamics(data, autoencoder, out, seed=seed, device=device, **train_kwargs))
    world = World.from_pretrained(out, device=device)
    m = rollout_metrics(world, held_out_episodes(data, seed), horizons=HORIZONS, per_episode=eval_starts,
                        seed=seed, progress=True, skip=recording_settle_frames(data))
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
                                       progress=True, skip=recording_settle_frames(recording))
        settings[name] = world.settings()
    (out / "metrics.json").write_text(json.dumps(report, indent=2))
    finalize(out)
    return out, {**report, "settings": settings}


# ----- `worldmodel train`: a game in, a playable world out, within a time budget -------------------

# The recipe of docs/TRAINING.md (its recipe search and issue 16's campaign): counterfactual
# branches in the recording (the same past with several actions and their real outcomes, which is
# what makes a network read the action), and the dynamics presets `cpu-unet` / `tiny-unet`: the
# frame-stacking U-Net, loss on the newest frame from a clean past, training noise centred higher,
# sampling in one Euler step from sigma 20 without guidance. That one-step world follows the keys
# but averages the possible next frames into a blur; the same network sampled in 10 Euler steps
# with guidance 2 keeps 2.5-3x the detail, and a one-step student distilled from that teacher keeps
# most of it while playing in one network pass a frame (docs/TRAINING.md, sessions 10-11: sharpness
# 0.40 against 0.15 for about 1 dB of PSNR; the player sees the detail, PSNR rewards the mean). So
# the world that `worldmodel train` ships is that student, with its teacher in OUT/teacher.
RECIPE = {"branches": {"actions": 3, "steps": 6, "past": 8}, "teacher": {"steps": 10, "guidance": 2.0}}
STAGES = ("record", "autoencoder", "dynamics", "distill", "heads", "eval")
PLAN = "pipeline.json"
# what a world made by `worldmodel train` should try when it does not yet play (its summary and card say it)
TRAIN_MORE = "more --hours (the dynamics curve in work/dynamics/log.jsonl shows whether it was still rising)"


def named_policy(name: str, env):
    """The recording policies `record` knows by name (worldmodel.data.POLICIES); the default of
    `train_world(policies=...)`. The CLI passes `agents.policies.recording_policy`, which adds the
    agents (e.g. explore:aim): model and pipeline code never import the agents above them."""
    from .data import POLICIES
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}: choose from {', '.join(POLICIES)}")
    return name


# A world's next frame can be no closer to the game's than its autoencoder's reconstruction, so
# the autoencoder must stand well above repeating the last frame, or no world beats copy-last@1
# (atari:Enduro at 16 channels: 33.0 dB against copy-last 33.1, at 24 channels 38.5; E1M1 at 16:
# 35.8 against about 24). The pipeline widens the patch PCA until it clears copy-last by this much.
AE_WIDTHS, AE_MARGIN_DB = (16, 24, 32), 3.0
PCA_MAX_WIDTH = 48   # the pca presets' 4x4 patches of 3 colours


def copy_last_psnr(data, seed: int = 0) -> float:
    """PSNR@1 of repeating the last frame over the held-out episodes of the recording `data`
    (the frames after the game's settle frames, as the evaluation counts them)."""
    from .data import split_episodes
    from .metrics import mean_psnr
    _, eps = load_episodes(data, progress=False)
    skip = recording_settle_frames(data)
    _, val = split_episodes(len(eps), seed=seed)
    pairs = [(eps[i].frames[skip + 1:], eps[i].frames[skip:-1]) for i in val if len(eps[i]) > skip + 1]
    return mean_psnr(np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs]))


def fit_wide_enough(fit, copy_last_db: float, widths=AE_WIDTHS, margin: float = AE_MARGIN_DB) -> tuple[int, dict]:
    """(width, metrics) of the first of `widths` whose autoencoder, `fit(width)` -> metrics with
    val_psnr, reconstructs at least `margin` dB above copy-last@1; the widest if none does."""
    for width in widths:
        m = fit(width)
        if m["val_psnr"] >= copy_last_db + margin:
            break
    return width, m


def plan_training(env: str, hours: float, size: int = 64, policy: str = "sticky", clock: bool = False,
                  latents: int | None = None, salience: float = 0.0, latent_norm: str = "shared") -> dict:
    """How `hours` are spent: the recording's size, the presets for the frame size, and the share
    of the time left that each training stage gets when it starts (so the budget is filled
    however long the recording took). `latents`: the patch PCA's width (None: the narrowest of
    AE_WIDTHS that clears copy-last, fit_wide_enough). `salience`: the dynamics loss's
    DiffusionConfig.salience_weight (0: off). `latent_norm`: the autoencoder's
    AutoencoderConfig.latent_norm ("shared" or "channel", whitened)."""
    if not hours > 0:
        raise ValueError(f"--hours must be positive, got {hours}")
    if size not in (32, 64):
        raise ValueError(f"--size must be 32 (the tiny presets) or 64, got {size}")
    if latents is not None and not 1 <= latents <= PCA_MAX_WIDTH:
        raise ValueError(f"--latents must be in 1..{PCA_MAX_WIDTH} (a 4x4 patch of 3 colours holds "
                         f"{PCA_MAX_WIDTH} values), got {latents}")
    if not salience >= 0:
        raise ValueError(f"--salience-weight must be >= 0, got {salience}")
    from autoencoder.models import LATENT_NORMS
    if latent_norm not in LATENT_NORMS:
        raise ValueError(f"--latent-norm must be one of {', '.join(LATENT_NORMS)}, got {latent_norm!r}")
    small = hours < 0.5
    dynamics = "cpu-unet" if size == 64 else "tiny-unet"
    return {"env": env, "hours": hours, "size": size, "policy": policy, "clock": bool(clock), "latents": latents,
            "salience": float(salience), "latent_norm": latent_norm,
            "episodes": int(min(200, max(4, round(100 * hours)))), "steps": 60 if small else 300,
            "branch_points": 2 if small else 8,
            "autoencoder": "pca" if size == 64 else "pca-tiny", "dynamics": dynamics, "distill": True,
            "teacher_steps": RECIPE["teacher"]["steps"], "teacher_guidance": RECIPE["teacher"]["guidance"],
            # shares of the minutes left when the stage starts; the rest is heads and evaluation
            "dynamics_share": 0.65, "distill_share": 0.75,
            "eval_episodes": 2 if small else 8, "stability_frames": 120 if small else 900}


def _teacher_sampling(plan: dict) -> tuple[int, float]:
    """The teacher's sampling the student imitates (a plan saved before the recipe named it used
    the dynamics preset's own)."""
    if "teacher_steps" in plan:
        return int(plan["teacher_steps"]), float(plan["teacher_guidance"])
    preset = PRESETS[plan["dynamics"]]
    return preset.sample_steps, preset.guidance_scale


def _load_plan(out: Path, plan: dict) -> dict:
    path = out / PLAN
    if path.is_file():
        saved = json.loads(path.read_text())
        saved["plan"].setdefault("policy", "sticky")    # plans saved before --policy was an option
        saved["plan"].setdefault("clock", False)        # ... and before --clock
        saved["plan"].setdefault("latents", None)       # ... and before --latents
        saved["plan"].setdefault("salience", 0.0)       # ... and before --salience-weight
        saved["plan"].setdefault("latent_norm", "shared")   # ... and before --latent-norm
        differ = [key for key in ("env", "hours", "size", "policy", "clock", "latents", "salience", "latent_norm")
                  if saved["plan"][key] != plan[key]]
        if differ:
            options = [{"salience": "salience-weight", "latent_norm": "latent-norm"}.get(key, key)
                       for key in differ]                                      # plan key -> option
            raise ValueError(f"{out} is a `worldmodel train` run of {command_line(saved['plan'])} (this command "
                             f"differs in --{', --'.join(options)}); resume it with the same settings or train into a "
                             "new --out folder")
        return saved
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty and holds no `worldmodel train` run; choose a new --out folder")
    return {"plan": plan, "stages": {}}


def _save_plan(out: Path, state: dict) -> None:
    tmp = out / (PLAN + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(out / PLAN)


def _dynamics_overrides(plan: dict) -> dict | None:
    """What a plan changes in the dynamics preset (train_dynamics' overrides)."""
    over = {}
    if plan.get("clock"):
        over["model"] = {"clock": True}
    if plan.get("salience"):
        over["diffusion"] = {"salience_weight": float(plan["salience"])}
    return over or None


def training_seconds(folder: Path) -> float:
    """The training seconds a finished run in `folder` logged in all (its last `done` event in
    log.jsonl, counted across resumes), or 0 when it logged none."""
    log = Path(folder) / "log.jsonl"
    done = [row for row in log_rows(log) if row.get("event") == "done"] if log.exists() else []
    return float(done[-1].get("train_seconds", 0.0)) if done else 0.0


def command_line(plan: dict) -> str:
    """The `worldmodel train` options that made a plan (those that pipeline.json's plan records)."""
    return (f"--env {plan['env']} --hours {plan['hours']:g} --size {plan['size']} --policy {plan.get('policy', 'sticky')}"
            + (" --clock" if plan.get("clock") else "") + (f" --latents {plan['latents']}" if plan.get("latents") else "")
            + (f" --salience-weight {plan['salience']:g}" if plan.get("salience") else "")
            + (f" --latent-norm {plan['latent_norm']}" if plan.get("latent_norm", "shared") != "shared" else ""))


def train_world(env: str, out, hours: float, *, size: int = 64, policy: str = "sticky", clock: bool = False,
                latents: int | None = None, salience: float = 0.0, latent_norm: str = "shared", seed: int = 0,
                device=None, say=print,
                policies=named_policy) -> dict:
    """Record `env`, fit the autoencoder, train the dynamics, distill the student, fit reward and
    end heads where the game has rewards, evaluate on fresh seeds and write the model card, all
    within about `hours` (the stages after the recording share the time that is left). OUT
    becomes the world (`worldmodel play OUT`); its work folders are OUT/work/. Rerun the same
    command after a kill: finished stages are skipped and the training stages resume.
    Returns the evaluation's metrics. `say` prints the plan and each stage's start; `policies`
    turns the policy's name into what `record` plays with (`named_policy`). `clock`: the dynamics
    also read each frame's episode step (DynamicsConfig.clock). `latents`: the patch PCA's width,
    instead of the narrowest that clears copy-last. `salience`: the dynamics loss's salience weight
    (DiffusionConfig.salience_weight). `latent_norm`: "channel" whitens the autoencoder's latents
    (AutoencoderConfig.latent_norm)."""
    from .data import BranchConfig, record
    from .envs import make_env
    from .eval_report import run_eval
    from .train.autoencoder import train_autoencoder
    from .train.heads import train_heads
    from dynamics.distill import DistillConfig

    out = Path(out)
    plan = plan_training(env, hours, size, policy, clock, latents, salience, latent_norm)
    from .data import POLICIES
    if policy not in POLICIES:                     # an unknown agent fails now, before anything is saved
        env_ = make_env(env, size=size)
        try:
            policies(policy, env_)
        finally:
            env_.close()
    state = _load_plan(out, plan)
    plan, done = state["plan"], state["stages"]
    work = out / "work"
    data, ae_dir, dyn_dir = work / "data", work / "autoencoder", work / "dynamics"
    work.mkdir(parents=True, exist_ok=True)
    budget = plan["hours"] * 3600

    def spent() -> float:
        return sum(s["seconds"] for s in done.values())

    def stage(name: str, what: str) -> float:
        """Announce stage `name` and return its start time. (Time a killed run spent in a stage
        that did not finish is not counted, except by the training stages, whose logs count the
        training time of all their runs; they keep their own budgets.)"""
        i = STAGES.index(name) + 1
        left = budget - spent()
        say(f"[{i}/{len(STAGES)}] {name}: {what}  ({spent() / 60:.0f} of {budget / 60:.0f} min spent, "
            f"{max(left, 0) / 60:.0f} left)")
        return time.time()

    def finish(name: str, t0: float, trained: float = 0.0, **info) -> None:
        # a training stage resumed after a kill counts the training time of all its runs
        done[name] = {"seconds": round(max(time.time() - t0, trained), 1), **info}
        _save_plan(out, state)

    if not done:
        from .action import ACTION_DIM
        latent = size // 4                         # both PCA presets: at 1/4 of the frame size
        channels = plan["latents"] or AE_WIDTHS[0]  # the width asked for, else the narrowest tried first
        per_step = seconds_per_step(plan["dynamics"], channels, latent, ACTION_DIM, device=device)
        steps = int(plan["dynamics_share"] * budget / per_step)
        say(f"`worldmodel train` {env} for {hours:g} h into {out}: record {plan['episodes']} episodes x "
            f"{plan['steps']} steps with {plan['branch_points']} counterfactual branch points each, a "
            f"{plan['autoencoder']} autoencoder, the {plan['dynamics']} dynamics preset for "
            f"{plan['dynamics_share']:.0%} of the time left after recording: at {per_step:.2f} s a step (timed "
            f"now), at most about {steps:,} steps of batch {PRESETS[plan['dynamics']].batch_size}; then "
            + (f"a one-step student of it sampled in {plan['teacher_steps']} steps at guidance "
               f"{plan['teacher_guidance']:g} for most of the rest, " if plan["distill"] else "")
            + f"heads, and `worldmodel eval` on {plan['eval_episodes']} fresh episodes. Rerun the same command "
            "to resume.")
        state["seconds_per_step"] = per_step
        from .bench import machine
        from .train.loop import pick_device
        state["machine"] = machine(pick_device(device))   # the card says what the minutes were spent on
        _save_plan(out, state)

    if "record" not in done:
        t0 = stage("record", f"{plan['episodes']} episodes of {env} ({plan['policy']} policy, seed {seed})")
        if data.exists():
            shutil.rmtree(data)                    # a killed recording is made again (it is deterministic)
        env_ = make_env(env, size=size)
        try:
            record(env_, data, plan["episodes"], plan["steps"], policy=policies(plan["policy"], env_), seed=seed,
                   branches=BranchConfig(points=plan["branch_points"], **RECIPE["branches"]))
        finally:
            env_.close()
        skipped = len(read_meta(data).get("skipped_branch_points", []))
        if skipped:
            say(f"    {skipped} branch points gave no branches: the game replayed them differently")
        finish("record", t0)

    if "autoencoder" not in done:
        t0 = stage("autoencoder", f"preset {plan['autoencoder']}")
        copy_last = copy_last_psnr(data, seed)

        def fit(width: int) -> dict:
            m = train_autoencoder(data, ae_dir, plan["autoencoder"], seed=seed, device=device, latent_channels=width,
                                  latent_norm=plan.get("latent_norm", "shared"))
            say(f"    {width} latent channels: {m['val_psnr']:.2f} dB (copy-last@1 of the recording {copy_last:.2f} dB)")
            return m
        widths = AE_WIDTHS if plan["autoencoder"].startswith("pca") else (None,)   # a conv preset keeps its width
        if plan.get("latents"):
            widths = (plan["latents"],)
        width, m = fit_wide_enough(fit, copy_last, widths)
        finish("autoencoder", t0, val_psnr=m["val_psnr"], latent_channels=width, copy_last_psnr=copy_last)

    if "dynamics" not in done:
        minutes = state.get("dynamics_minutes") or max(0.2, plan["dynamics_share"] * (budget - spent()) / 60)
        state["dynamics_minutes"] = minutes
        _save_plan(out, state)
        t0 = stage("dynamics", f"preset {plan['dynamics']}, {minutes:.0f} training minutes")
        train_dynamics(data, ae_dir, dyn_dir, plan["dynamics"], steps=10 ** 7, seed=seed, device=device,
                       minutes=minutes, overrides=_dynamics_overrides(plan))
        finalize(dyn_dir)
        finish("dynamics", t0, trained=training_seconds(dyn_dir))

    if "distill" not in done and not plan.get("distill", True):
        t0 = stage("distill", f"skipped: the {plan['dynamics']} world samples in one network pass a frame "
                   "already (one Euler step, no guidance), so it is its own fast path")
        shutil.copytree(dyn_dir, out, dirs_exist_ok=True)   # OUT becomes the world itself
        finish("distill", t0, skipped="the world plays in one network pass a frame")
    if "distill" not in done:
        minutes = state.get("distill_minutes") or max(0.1, plan["distill_share"] * (budget - spent()) / 60 * 0.8)
        state["distill_minutes"] = minutes
        _save_plan(out, state)
        steps, guidance = _teacher_sampling(plan)
        t0 = stage("distill", f"a 1-step student of the dynamics sampled in {steps} steps at guidance "
                   f"{guidance:g}, {minutes:.0f} minutes")
        cfg = DistillConfig(student_steps=1, teacher_steps=steps, guidance=guidance, steps=10 ** 7)
        distill_world(dyn_dir, data, out, cfg, seed=seed, device=device, minutes=minutes, source="work/dynamics")
        finalize(out)
        finish("distill", t0, trained=training_seconds(out))

    if "heads" not in done:
        _, eps = load_episodes(data)
        rewarded = sum(int((e.rewards != 0).sum()) for e in eps)
        t0 = stage("heads", f"reward and episode-end heads ({rewarded} rewarded steps recorded)")
        if rewarded:
            m = train_heads(out, data, steps=1500 if plan["hours"] >= 0.5 else 100, seed=seed, device=device,
                            generated=heads_on_generated, rollouts=heads_rollouts)
            finish("heads", t0, reward_nonzero=m["reward_nonzero"],
                   reward_nonzero_generated=m.get("generated", {}).get("reward_nonzero"))
        else:
            finish("heads", t0, skipped="the recording holds no reward")

    if "eval" in done:
        say(f"{out} is finished; its evaluation is {out}/eval/report.md")
        return json.loads((out / "eval" / "metrics.json").read_text())
    t0 = stage("eval", f"{plan['eval_episodes']} fresh episodes (seed {seed + 1})")
    m = run_eval(out, out / "eval", seed=seed + 1, episodes=plan["eval_episodes"],
                 stability_frames=plan["stability_frames"], device=device, progress=True)
    finish("eval", t0)
    (out / "MODEL_CARD.md").write_text(model_card(state, m))
    return m


def model_card(state: dict, m: dict) -> str:
    """The card of a `worldmodel train` world: what it was trained on, how long each stage took,
    and the player's summary of its evaluation."""
    from .eval_report import format_table, player_summary
    plan = state["plan"]
    rows = [f"| {name} | {state['stages'][name]['seconds'] / 60:.1f} |" for name in STAGES if name in state["stages"]]
    ae = state["stages"].get("autoencoder", {})
    ae_txt = ""
    if ae.get("latent_channels"):                  # a patch PCA widened against copy-last (fit_wide_enough)
        ae_txt = (f" The autoencoder has {ae['latent_channels']} latent channels: it reconstructs held-out frames "
                  f"at {ae['val_psnr']:.2f} dB, where repeating the last frame scores {ae['copy_last_psnr']:.2f} dB.")
    mach_txt = ""
    if mach := state.get("machine"):               # runs planned before the card named the machine have none
        gpu = f", {mach['gpu']}" if "gpu" in mach else ""
        mach_txt = f"Trained on {mach['cpu']} ({mach['cpu_count']} CPU cores{gpu}), torch {mach['torch']}."
    return "\n".join([
        f"# A world of `{plan['env']}`, made by `worldmodel train`", "",
        f"`worldmodel train {command_line(plan)}`: "
        f"{plan['episodes']} recorded episodes of {plan['steps']} steps ({plan.get('policy', 'sticky')} policy, "
        f"{plan['branch_points']} counterfactual branch points each), autoencoder `{plan['autoencoder']}`, "
        f"dynamics preset `{plan['dynamics']}` (the recipe of docs/TRAINING.md)"
        + (", a one-step student of it sampled in {} steps at guidance {:g} (that teacher is in "
           "`teacher/`).".format(*_teacher_sampling(plan)) if plan.get("distill", True) else
           ", sampled in one Euler step without guidance: one network pass a frame.") + ae_txt, "",
        *([mach_txt, ""] if mach_txt else []),
        "| stage | minutes |", "|---|---|", *rows, "",
        "## What a player will feel", "", *player_summary(m, colour=False, more=TRAIN_MORE), "",
        "## Fresh-seed evaluation (`eval/report.md`)", "", format_table(m), ""])
