"""The `worldmodel` command line. Every subcommand has --help."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

EPILOG = """typical flow:
  worldmodel record --env procedural --episodes 200 --steps 100 --out data/proc
  worldmodel train-autoencoder --data data/proc --preset small --out runs/proc-ae
  worldmodel train-dynamics --data data/proc --autoencoder runs/proc-ae --preset small --out runs/proc
  worldmodel distill --teacher runs/proc --steps 1 --data data/proc --out runs/proc-fast
  worldmodel play runs/proc-fast
  worldmodel bench runs/proc-fast --device cpu
"""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from .checkpoint import CheckpointError
    from .image import ImageError
    try:
        return args.func(args) or 0
    except (CheckpointError, ImageError, ValueError, FileNotFoundError, FileExistsError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = "; training runs resume from their last save when started again" if args.func in _training() else ""
        print(f"interrupted{hint}", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    from .envs import ENV_HELP
    p = argparse.ArgumentParser(prog="worldmodel", description="World-model playground: one image becomes a world you can play.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    r = sub.add_parser("record", help="record episodes of an environment", description=
                       "Play an environment with a policy and write episodes: lossless frames (FFV1), actions, rewards, ends.")
    r.add_argument("--env", required=True, help=ENV_HELP)
    r.add_argument("--episodes", type=_positive, required=True, help="number of episodes")
    r.add_argument("--steps", type=_positive, required=True, help="max actions per episode (fewer if the game ends)")
    r.add_argument("--policy", default="random", help="random (uniform each frame), sticky (repeats an action ~5 frames), "
                   "or an agent that sees the frames (agents.policies), e.g. explore:aim (ViZDoom: the aiming heuristic "
                   "with sticky random play mixed in at a rate drawn each episode, so the recording holds kills)")
    r.add_argument("--seed", type=int, default=0, help="seed of the worlds and of the policy (default 0)")
    r.add_argument("--size", type=_positive, default=64, help="frame size in pixels (square, default 64)")
    r.add_argument("--out", required=True, help="output folder (must be new or empty)")
    r.add_argument("--branches", type=_non_negative, default=0,
                   help="counterfactual branches: at this many random steps of each episode, replay the game from "
                        "the same seed and actions and continue with other actions, so the data shows the same past "
                        "with several actions and their real outcomes (what makes a world read its keys; default 0)")
    r.add_argument("--branch-actions", type=_positive, default=3, help="other actions tried at each branch point (default 3)")
    r.add_argument("--branch-steps", type=_positive, default=6, help="frames each branch holds its action (default 6)")
    r.add_argument("--branch-past", type=_positive, default=8,
                   help="frames of the shared past stored with each branch (default 8; at least the world's context)")
    r.set_defaults(func=cmd_record)

    tw = sub.add_parser("train", help="train a world of a game in one command, within a time budget",
                        formatter_class=argparse.RawDescriptionHelpFormatter, description=
                        "Record the game (with counterfactual branches), fit the autoencoder, train the dynamics with "
                        "the recipe of docs/TRAINING.md (a frame-stacking U-Net), distil a one-step student of it "
                        "sampled in 10 steps at guidance 2 (sharper than its own single step), fit reward/end "
                        "heads where the game "
                        "has rewards, evaluate on fresh seeds and write OUT/MODEL_CARD.md. The stages after the "
                        "recording share the time left, so the budget is filled. Rerun the same command after a "
                        "kill to resume. Then: worldmodel play OUT.",
                        epilog="--size 64 uses the `pca` autoencoder and the `cpu-unet` dynamics preset (4.6M "
                               "parameters, 16x16x16 latents); --size 32 the `pca-tiny` and `tiny-unet` ones (smoke "
                               "runs). On 2 CPU cores a `cpu-unet` step takes 0.13 s with bf16 on a Xeon with AMX (about "
                               "27,000 steps an hour), 0.24 s on an AVX-512 Zen 5 (15,000) and 0.66 s on an AVX2-only Zen 3 "
                               "(5,000). On that Zen 5, `--env atari:Enduro --hours 2` took 1 h 51 min and made a world "
                               "that follows the keys (docs/TRAINING.md, 'Your own game in one command', has its "
                               "stages and numbers).")
    tw.add_argument("--env", required=True, help=ENV_HELP)
    tw.add_argument("--hours", type=_positive_float, required=True, help="the whole budget, recording to evaluation")
    tw.add_argument("--out", required=True, help="the world's folder (new, or a killed `worldmodel train` run to resume)")
    tw.add_argument("--size", type=int, default=64, choices=(32, 64), help="frame size (default 64)")
    tw.add_argument("--policy", default="sticky", help="who plays the recording: sticky (default: random keys held ~5 "
                    "frames) or an agent, e.g. explore:aim for ViZDoom's defend_the_center (the aiming heuristic with "
                    "random play mixed in, so the recording holds the kills a reward head learns from)")
    tw.add_argument("--clock", action="store_true",
                    help="a world that knows how long its episode has run: each predicted frame also reads its episode "
                         "step (the dynamics' --model clock=true; for games whose play changes over an episode, e.g. "
                         "defend_the_center's ammunition running out). The heads stay without it (`train-heads "
                         "--clock` gives them one)")
    tw.add_argument("--latents", type=int, default=None, metavar="C",
                    help="latent channels of the patch-PCA autoencoder, 1..48 (default: the narrowest of 16, 24, 32 "
                         "that reconstructs 3 dB above repeating the last frame). Wider keeps small things: on "
                         "defend_the_center 16 channels keep a distant demon in 0.49 of the frames that show one, 32 "
                         "in 0.92 (scripts/target_sight.py --pca)")
    tw.add_argument("--salience-weight", type=float, default=0.0, metavar="S",
                    help="up-weight the dynamics loss where a frame differs from the batch's median frame (train-dynamics "
                         "--salience-weight; default 0: off). For scenes alike from every side, whose small things an "
                         "unweighted loss erases: on defend_the_center, 18 minutes of fine-tuning at 10 made the world "
                         "draw demons in 0.49 of its frames one step on (the game: 0.34; without: 0.13), though not "
                         "yet where the game has them (docs/agents/defend_the_center/README.md)")
    from autoencoder.models import LATENT_NORMS
    tw.add_argument("--latent-norm", default="shared", choices=LATENT_NORMS,
                    help="latent normalisation of the autoencoder (train-autoencoder --latent-norm): shared (default) "
                         "or channel, each latent channel whitened to unit std, so that the dynamics' noise and loss "
                         "treat a faint detail like the structure. Experimental: on defend_the_center (32 channels, "
                         "30 minutes of dynamics) the denoiser then keeps the demons its noisy input shows, but the "
                         "world follows its keys less (dPSNR@4 0.51 against 1.26) and still places new demons at "
                         "chance (docs/agents/defend_the_center/README.md)")
    tw.add_argument("--seed", type=int, default=0, help="seed of the recording and training (evaluation uses seed + 1)")
    tw.add_argument("--device", default=None, help="cpu or cuda (default: cuda where there is one)")
    tw.set_defaults(func=cmd_train)

    a = sub.add_parser("train-autoencoder", help="train a frame <-> latent autoencoder",
                       description="Train (or fit, for pca presets) an autoencoder; prints validation PSNR. Resumes if --out holds a killed run.")
    from autoencoder import PRESETS as AE_PRESETS
    a.add_argument("--data", required=True, help="a folder written by `worldmodel record`")
    from autoencoder.presets import FITS as AE_FITS
    a.add_argument("--preset", default="small", choices=sorted(AE_PRESETS),
                   help="model size and budget (default small): " + "; ".join(f"{n}: {AE_FITS[n]}" for n in sorted(AE_PRESETS)))
    a.add_argument("--out", required=True, help="run folder (the checkpoint)")
    a.add_argument("--latent-channels", type=_positive, default=None,
                   help="latent width instead of the preset's (16): more keeps more detail, and the dynamics "
                        "has more to predict")
    a.add_argument("--downsample", type=_positive, default=None, metavar="F",
                   help="spatial compression instead of the preset's (4): F x F pixels per latent cell, so 2 "
                        "gives a latent of half the frame's side (4x the cells) where a sprite spans more cells")
    a.add_argument("--latent-norm", default=None, choices=LATENT_NORMS,
                   help="latent normalisation: shared (default) scales all channels by one std, so the "
                        "dynamics' loss tracks the pixel error (for the patch PCA it is the pixel error); channel "
                        "whitens each channel to unit std, so faint detail (a distant sprite) weighs as much as "
                        "the structure (experimental)")
    _train_args(a)
    a.set_defaults(func=cmd_train_autoencoder)

    d = sub.add_parser("train-dynamics", help="train the action-conditioned diffusion transformer",
                       description="Train dynamics on latent episodes; the run folder becomes a playable world. "
                                   "Evaluates rollout PSNR on held-out episodes at the end. Resumes if --out holds a killed run.")
    from dynamics import PRESETS as DYN_PRESETS
    d.add_argument("--data", required=True, help="a folder written by `worldmodel record`")
    d.add_argument("--autoencoder", required=True, help="an autoencoder run folder")
    from dynamics.presets import FITS as DYN_FITS
    d.add_argument("--preset", default="small", choices=sorted(DYN_PRESETS),
                   help="model size and budget (default small): " + "; ".join(f"{n}: {DYN_FITS[n]}" for n in sorted(DYN_PRESETS)))
    d.add_argument("--out", required=True, help="run folder (the world checkpoint)")
    d.add_argument("--eval-starts", type=int, default=8, help="rollout starts per held-out episode in the final evaluation")
    d.add_argument("--minutes", type=float, default=None,
                   help="wall-time budget: after 50 steps, cut the step count to what fits (the LR schedule follows)")
    d.add_argument("--init", default=None,
                   help="start from this world checkpoint's dynamics weights instead of random ones (same network "
                        "and --autoencoder; a resumed run keeps the start it had)")
    d.add_argument("--loss-frames", choices=("all", "last"), default=None,
                   help="which frames of a clip the loss covers: all (Diffusion Forcing, the presets' default) or "
                        "only the last, predicted one (pair it with --clean-context 1.0, or half the clips still "
                        "predict it from a noised past)")
    d.add_argument("--clean-context", type=float, default=None,
                   help="fraction of clips whose past frames are (nearly) clean, as at play time (default 0.5)")
    d.add_argument("--lr", type=_positive_float, default=None, help="override the preset's peak learning rate")
    d.add_argument("--motion-weight", type=float, default=None,
                   help="up-weight the loss where the past frames moved, so small moving things (which carry the "
                        "action) are learned early; 0 = off (default)")
    d.add_argument("--salience-weight", type=float, default=None,
                   help="up-weight the loss where the frame (or the one before it) differs from the batch's median "
                        "frame, so small things in a uniform scene (a distant demon) are not erased; 0 = off (default)")
    d.add_argument("--residual", action="store_const", const=True, default=None,
                   help="the U-Net's denoiser predicts the change from the previous frame (EDM's preconditioning "
                        "around it), so what it cannot tell stays as it was instead of fading to the average frame")
    d.add_argument("--p-mean", type=float, default=None,
                   help="centre of the log-normal training noise (ln sigma; preset default -0.4); higher trains more "
                        "at the high noise where the action decides the frame")
    d.add_argument("--sigma-max", type=_positive_float, default=None,
                   help="the noise level sampling starts from (default 5). The start is pure noise, so it must be "
                        "high enough that a noisy frame there tells nothing of the frame: on E1M1 a network still "
                        "read the frame from x + 5 noise, and sampling from 20 gained 1.6 dB at one step "
                        "(docs/TRAINING.md)")
    d.add_argument("--p-uncond", type=float, default=None,
                   help="probability of dropping a frame's action to the null action (CFG; default 0.15)")
    d.add_argument("--optimizer", choices=("adamw", "muon"), default=None,
                   help="adamw (default) or muon (Muon for the blocks' weight matrices, AdamW for the rest)")
    d.add_argument("--precision", choices=("auto", "bf16", "fp32"), default=None,
                   help="auto (default; a resumed run keeps its own): bf16 autocast where it is faster (a CUDA GPU, "
                        "or a CPU with native bf16 such as AVX512_BF16), else fp32")
    d.add_argument("--eval-every", type=_positive_float, default=None, metavar="MINUTES",
                   help="every MINUTES of training, measure on held-out clips the one-step action gap (also on "
                        "held-out counterfactual branches if the recording has them), PSNR@1 against copy-last and "
                        "dPSNR@4 into log.jsonl (plot runs with `worldmodel curves`)")
    d.add_argument("--model", action="append", default=[], metavar="FIELD=VALUE",
                   help="change a field of the preset's network (DynamicsConfig), e.g. --model patch=4 --model dim=192; "
                        "repeatable")
    d.add_argument("--ignore-branches", action="store_true",
                   help="train on the recorded episodes only, not on their counterfactual branches")
    _train_args(d)
    d.set_defaults(func=cmd_train_dynamics)

    cu = sub.add_parser("curves", help="plot learning curves of dynamics runs against training minutes",
                        description="Read the held-out measurements that `train-dynamics --eval-every` logged in each "
                                    "RUN/log.jsonl and plot action gap, PSNR@1 - copy-last@1, dPSNR@4 and the loss "
                                    "against training minutes, one line per run; prints the last point of each.")
    cu.add_argument("runs", nargs="+", help="train-dynamics run folders; NAME=RUN1,RUN2,... draws runs that "
                                            "continue one another (warm restarts) as one line named NAME")
    cu.add_argument("--out", default="curves.png", help="PNG to write (default curves.png)")
    cu.add_argument("--x", choices=("minutes", "steps"), default="minutes",
                    help="horizontal axis: training minutes (default) or training steps")
    cu.set_defaults(func=cmd_curves)

    ds = sub.add_parser("distill", help="distil a world into a fast few-step student (guidance folded in)",
                        description="Train a student that samples in --steps steps with one forward pass each, imitating "
                                    "the teacher's --teacher-steps guided Euler steps (two passes each). OUT is an ordinary "
                                    "world checkpoint (the student) with the teacher copied into OUT/teacher; `play`, `eval` "
                                    "and `bench` take it unchanged. Resumes if --out holds a killed run.")
    ds.add_argument("--teacher", required=True, help="the world to distil: a checkpoint folder or shipped world name")
    ds.add_argument("--steps", type=int, default=1, choices=[1, 2, 4], help="denoising steps of the student (default 1)")
    ds.add_argument("--out", required=True, help="run folder (the student checkpoint)")
    ds.add_argument("--data", default=None, help="a `worldmodel record` folder of the teacher's game (default: the "
                                                 "recording the teacher was trained on, if it is still there)")
    ds.add_argument("--teacher-steps", type=_positive, default=8, help="Euler steps of the teacher (default 8)")
    ds.add_argument("--guidance", type=float, default=2.0, help="the teacher's guidance scale, folded into the student (default 2)")
    ds.add_argument("--warm-start", type=float, default=0.0, metavar="SIGMA",
                    help="teacher and student sample each frame from the previous frame noised to SIGMA instead of "
                         "from pure noise (SDEdit; default 0: off): what the noise does not hide stays where it was")
    ds.add_argument("--train-steps", type=_positive, default=600, help="training steps (default 600)")
    ds.add_argument("--batch-size", type=_positive, default=32, help="clips per training step (default 32)")
    ds.add_argument("--lr", type=float, default=2e-4, help="learning rate (default 2e-4)")
    ds.add_argument("--seed", type=int, default=0, help="seed of the split and the batches (default 0)")
    ds.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    ds.add_argument("--save-every", type=float, default=120.0, help="seconds between resumable saves (default 120)")
    ds.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                    help="auto (default): bf16 autocast where it is faster (a CUDA GPU, or a CPU with native bf16), "
                         "else fp32")
    ds.add_argument("--minutes", type=_positive_float, default=None,
                    help="a budget of training minutes, kept across resumes: after 50 steps --train-steps becomes "
                         "what fits (set it high), and the learning rate decays over it")
    ds.add_argument("--eval-starts", type=int, default=4, help="rollout starts per held-out episode in the final comparison")
    ds.add_argument("--init", default=None,
                    help="start the student from this world's network instead of a copy of the teacher: the student "
                         "of an earlier version of the same teacher (same network and autoencoder), a warm start")
    ds.set_defaults(func=cmd_distill)

    th = sub.add_parser("train-heads", help="fit a world's reward and episode-end heads (for agents)",
                        description="Fit small reward and episode-end heads on a recording of the world's game "
                                    "(default: the recording it was trained on) and on the world's own frames of its "
                                    "training episodes, report precision/recall of reward events (a predicted reward "
                                    "of at least half a class's value) and of episode ends, and the rewards summed "
                                    "against the game's, on the held-out episodes, and add the heads to the "
                                    "world's checkpoint (its dynamics are untouched). WorldEnv takes rewards and "
                                    "episode ends from them.")
    th.add_argument("world", help="a world checkpoint folder (or shipped name; that rewrites the shipped files)")
    th.add_argument("--data", default=None, help="a `worldmodel record` folder of the world's game")
    th.add_argument("--steps", type=_positive, default=1500, help="training steps (default 1500)")
    th.add_argument("--batch-size", type=_positive, default=256, help="transitions per step (default 256)")
    th.add_argument("--seed", type=int, default=None, help="seed of the split and the batches (default: the world's)")
    th.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    th.add_argument("--with-action", action="store_true",
                    help="let the heads read the action taken, not only the frames. Off by default: with it, an "
                         "agent trained in a world whose frames ignore the action earns head reward by the "
                         "action alone")
    th.add_argument("--action-history", type=_positive, default=1, metavar="K",
                    help="with --with-action: read the latest K actions (the step's own and the K-1 before it), "
                         "for games that pay a step or more after the key that earned it (default 1)")
    th.add_argument("--also", action="append", default=[], metavar="DIR",
                    help="another `worldmodel record` folder of the same game whose episodes all join the fit "
                         "(e.g. other players than the world's recording had); the held-out episodes stay "
                         "those of --data. Repeatable")
    th.add_argument("--coords", action="store_true",
                    help="let the heads see where on screen things are (two coordinate channels): in a "
                         "shooter a shot pays only for what is under the crosshair")
    th.add_argument("--clock", action="store_true",
                    help="let the heads read how many steps the episode has run (its clock): a death comes of "
                         "damage taken over the episode, which no pair of frames shows")
    th.add_argument("--reward-estimate", choices=["expected", "class"], default="expected",
                    help="expected (default): a step's reward is the probability-weighted mean of the reward "
                         "classes, fitted with a plain loss, so an episode's rewards add up to an estimate of its "
                         "return; class: the likeliest class under a class-balanced loss (finds rare events, but "
                         "counts every doubtful one in full)")
    th.add_argument("--end-estimate", choices=["threshold", "sample"], default="threshold",
                    help="threshold (default): an episode ends where the end head, fitted with the rare ends "
                         "weighted up, passes 0.5; sample: every step ends the episode with the head's calibrated "
                         "probability, drawn from the world's noise, so that risks no single frame shows add up "
                         "to an episode length")
    th.add_argument("--real-only", action="store_true",
                    help="fit the heads on the recording's real latent frames only. By default the world's own "
                         "frames of the training episodes are added (rollouts of 8 steps with the real actions, "
                         "labelled with the real rewards and ends), so the heads learn how the world draws a "
                         "reward, not only how the game does")
    th.add_argument("--world-frames-for", choices=["both", "end"], default="both",
                    help="which heads the world's own frames teach: both (default), or the end head only, the "
                         "reward head fitting on real frames alone (over 8 steps the world's drawing drifts from "
                         "the recording, so a paid reward can land on world frames that do not show what earned it "
                         "(a shot but no kill), and the reward head can learn to pay such frames)")
    th.add_argument("--skip-generated", action="store_true",
                    help="score the heads on real held-out latents only, not also on the world's own frames of "
                         "those episodes (rollouts of 8 steps with the real actions; a head that fires on real "
                         "frames but never on generated ones measures nothing in a world)")
    th.set_defaults(func=cmd_train_heads)

    pl = sub.add_parser("play", help="play a world in a window (or write a video with --headless)",
                        description="Play a world with keyboard and mouse. With no CHECKPOINT, the shipped default world. "
                                    "Without a display, falls back to --headless.")
    pl.add_argument("checkpoint", nargs="?", default=None, help="a checkpoint folder or shipped world name (`worldmodel list`)")
    pl.add_argument("--checkpoint", dest="checkpoint_opt", metavar="NAME", default=None, help="same as the positional CHECKPOINT")
    pl.add_argument("--image", default=None, help="start from this image (any size or mode) instead of the world's start frame")
    pl.add_argument("--headless", action="store_true", help="no window: play --frames frames and write them to --out")
    pl.add_argument("--frames", type=_positive, default=64, help="frames to play headless (default 64)")
    pl.add_argument("--actions", default="random", choices=["random", "idle"], help="headless actions (default random)")
    pl.add_argument("--out", default="play.mp4", help="headless output video (default play.mp4)")
    pl.add_argument("--scale", type=_positive, default=8, help="pixel scale of the window / video (default 8)")
    pl.add_argument("--fps", type=float, default=None, help="frames per second to pace the window at (default: the "
                                                           "world's own rate; 0: as fast as it generates)")
    pl.add_argument("--record", default=None, help="record everything shown to this MP4 (written when the window closes; "
                                                   "headless, the same as --out)")
    pl.add_argument("--threads", type=_positive, default=None, help="torch CPU threads (default: torch's choice; 1 is "
                                                                    "faster when another program keeps a core busy)")
    pl.add_argument("--record-dir", default=".", help="folder for clips recorded with F2 (default: the current folder)")
    _world_args(pl)
    pl.set_defaults(func=cmd_play)

    dm = sub.add_parser("demo", help="play in the browser: a Gradio page (gallery, upload, keys, branches, MP4)",
                        description="Serve a web page where each visitor plays their own copy of a world: pick a "
                                    "shipped world or upload any image, hold keys or use the on-screen buttons, mark a "
                                    "frame and compare two branches side by side, download what was played as MP4. "
                                    "Needs gradio: pip install -e \".[demo]\".")
    dm.add_argument("checkpoint", nargs="?", default=None, help="the world the page opens with (default: the default world)")
    dm.add_argument("--checkpoint", dest="checkpoint_opt", metavar="NAME", default=None, help="same as the positional CHECKPOINT")
    dm.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; 0.0.0.0 for a network)")
    dm.add_argument("--port", type=_port, default=7860, help="port (default 7860)")
    dm.add_argument("--max-players", type=_positive, default=2,
                    help="players at once; more get a 'busy, try again' page rather than slowing everyone (default 2)")
    dm.add_argument("--fps", type=float, default=None, help="frames per second per player (default: the world's own "
                                                           "rate; 0: as fast as it generates)")
    dm.add_argument("--idle-minutes", type=float, default=10.0,
                    help="free a player's world after this long without input from its page (default 10)")
    dm.add_argument("--threads", type=_positive, default=1, help="torch CPU threads (default 1: players step in parallel, "
                                                                 "and the browser and server share the cores)")
    dm.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    dm.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    dm.set_defaults(func=cmd_demo)

    ev = sub.add_parser("eval", help="measure a world against the real game: metrics.json, report.md, videos",
                        description="Record fresh episodes of the real game (seed --seed) and compare the world with it: "
                                    "PSNR/SSIM at horizons 1, 4, 16, 64 with real and random actions and copy-last, the "
                                    "autoencoder's reconstruction PSNR, one minute of play judged by a collapse rule and, "
                                    "for the procedural world, a memory test. Writes OUT/metrics.json, OUT/report.md "
                                    "(plots, frame strips) and side-by-side videos.")
    ev.add_argument("checkpoint", nargs="?", default=None, help="a checkpoint folder or shipped world name (default: the default world)")
    ev.add_argument("--env", default=None, help="the real game (default: the one the world learned); " + ENV_HELP)
    ev.add_argument("--episodes", type=_positive, default=8, help="fresh episodes to record (default 8)")
    ev.add_argument("--episode-steps", type=_positive, default=200, help="max actions per recorded episode (default 200; at least 65, plus the frames after a reset that no "
                    "rollout starts from: 73 for ViZDoom)")
    ev.add_argument("--starts", type=_positive, default=2, help="rollout start frames per episode (default 2)")
    ev.add_argument("--policy", default="sticky", help="policy that plays the real game: sticky (default) or random")
    ev.add_argument("--stability-frames", type=_positive, default=900, help="frames of the long play (default 900: a minute at 15 fps)")
    ev.add_argument("--out", required=True, help="output folder for metrics.json, report.md, plots and videos")
    _world_args(ev, seed_default=1, seed_help="seed of the recorded episodes, the noise and the random actions; "
                                            "the shipped worlds were trained on seed 0, so keep it non-zero for fresh episodes")
    ev.set_defaults(func=cmd_eval)

    bn = sub.add_parser("bench", help="frames/s and latency of World.step, student vs teacher, with their quality",
                        description="Time World.step (decoding to pixels included) after a warm-up: frames/s and per-step "
                                    "latency p50/p99. A distilled student is measured together with its guided teacher in "
                                    "the same run, and both get PSNR@16 and dPSNR@4 on the same fresh episodes of the real game.")
    bn.add_argument("checkpoint", nargs="?", default=None, help="a checkpoint folder or shipped world name (default: the default world)")
    bn.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    bn.add_argument("--batch", type=_positive, default=1, help="worlds stepped together in one call (default 1)")
    bn.add_argument("--frames", type=_positive, default=200, help="timed steps (default 200)")
    bn.add_argument("--warmup", type=int, default=20, help="untimed steps first (default 20)")
    bn.add_argument("--episodes", type=_positive, default=4, help="fresh episodes for the quality columns (default 4)")
    bn.add_argument("--seed", type=int, default=1, help="seed of the episodes, noise and actions (default 1)")
    bn.add_argument("--no-quality", action="store_true", help="time only; skip recording episodes and the PSNR columns")
    bn.add_argument("--threads", type=_positive, default=None, help="CPU threads for torch (default: torch's choice)")
    bn.add_argument("--json", default=None, help="also write the results to this JSON file")
    bn.set_defaults(func=cmd_bench)

    ag = sub.add_parser("agents", help="agents in a world: rank them against the real game, train one, time the env",
                        description="Agents that act from pixels the same way in the real game and in a world "
                                    "(agents: random, idle, fixed:I, heuristic, trained:DIR).")
    agsub = ag.add_subparsers(title="agents commands", metavar="WHAT")
    ae = agsub.add_parser("eval", help="does the world rank agents as the real game does? agents.json, report.md, plot",
                          description="Run each agent the same number of steps in the real game and in the world, from "
                                      "the same start frames; write DIR/agents.json, DIR/report.md and DIR/agents.png.")
    ae.add_argument("checkpoint", nargs="?", default="boxing", help="world folder or shipped name (default boxing: "
                    "the shipped world with reward heads)")
    ae.add_argument("--agents", default="ladder",
                    help="comma-separated agents; `ladder` stands for the game's own ladder of skill (Boxing: "
                         "fixed:8,fixed:3,idle,explore:heuristic,fixed:13,heuristic,aim; ViZDoom: idle,random,heuristic,fixed:9,explore:aim,aim), "
                         "e.g. ladder,trained:runs/ppo/stage-20000 (default: ladder)")
    ae.add_argument("--episodes", type=_positive, default=16, help="episodes per agent (default 16)")
    ae.add_argument("--steps", type=_positive, default=300, help="steps per episode (default 300; fewer if it ends)")
    ae.add_argument("--seed", type=int, default=0, help="episode e uses real-game and world seed 1000*seed+e (default 0)")
    ae.add_argument("--batch", type=_positive, default=64, help="world episodes stepped together (default 64)")
    ae.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    ae.add_argument("--out", required=True, help="output folder")
    ae.set_defaults(func=cmd_agents_eval)
    at = agsub.add_parser("train", help="train a policy (PPO) only inside a world, then score it in the real game",
                          description="PPO (stable-baselines3) in a WorldVectorEnv; resumes a killed run from "
                                      "OUT/train_state/; writes the agent (config.json + model.safetensors) and "
                                      "its real-game return against random and the heuristic (OUT/real.json).")
    at.add_argument("--world", default="boxing", help="world folder or shipped name (default boxing)")
    at.add_argument("--steps", type=_positive, default=50_000, help="agent steps in the world (default 50000)")
    at.add_argument("--num-envs", type=_positive, default=16, help="worlds stepped together (default 16)")
    at.add_argument("--episode-steps", type=_positive, default=300, help="world episode length (default 300)")
    at.add_argument("--eval-episodes", type=_positive, default=16, help="real-game episodes per agent (default 16)")
    at.add_argument("--seed", type=int, default=0, help="seed of PPO and of the worlds (default 0)")
    at.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    at.add_argument("--snapshot-every", type=_non_negative, default=0,
                    help="also keep the agent every this many steps in OUT/stage-STEPS/ (agents of several skills "
                         "for `agents eval --agents trained:OUT/stage-...`; default 0: only the final one)")
    at.add_argument("--out", required=True, help="output folder (an existing run there is resumed)")
    at.set_defaults(func=cmd_agents_train)
    ar = agsub.add_parser("real", help="the agents in the real game only: mean returns with 95% intervals",
                          description="Play agents in the real game (no world): does a ladder of agents differ in "
                                      "return within the episode length, before a world is trained on the game?")
    ar.add_argument("--env", required=True, help=ENV_HELP)
    ar.add_argument("--agents", default="ladder", help="comma-separated agents; `ladder`: the game's (default)")
    ar.add_argument("--episodes", type=_positive, default=16, help="episodes per agent (default 16)")
    ar.add_argument("--steps", type=_positive, default=300, help="steps per episode (default 300; fewer if it ends)")
    ar.add_argument("--seed", type=int, default=0, help="episode e uses seed 1000*seed+e (default 0)")
    ar.add_argument("--size", type=_positive, default=64, help="frame size the agents see (default 64)")
    ar.add_argument("--json", default=None, help="also write the numbers to this file")
    ar.set_defaults(func=cmd_agents_real)

    ab = agsub.add_parser("bench", help="steps/s per world: one WorldEnv against N batched in a WorldVectorEnv",
                          description="Times one world and a vector env of N worlds in alternation, in one run; "
                                      "prints medians and their ratio.")
    ab.add_argument("checkpoint", nargs="?", default="boxing", help="world folder or shipped name (default boxing)")
    ab.add_argument("--num-envs", type=_positive, default=8, help="worlds in the vector env (default 8)")
    ab.add_argument("--steps", type=_positive, default=20, help="steps per timing (default 20)")
    ab.add_argument("--repeats", type=_positive, default=5, help="timings of each, alternating (default 5)")
    ab.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    ab.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    ab.add_argument("--json", help="also write the numbers to this file")
    ab.set_defaults(func=cmd_agents_bench)
    ag.set_defaults(func=lambda args: (ag.print_help(), 2)[1])

    ls = sub.add_parser("list", help="list the shipped worlds")
    ls.set_defaults(func=cmd_list)
    return p


def _train_args(p):
    p.add_argument("--steps", type=_positive, default=None, help="override the preset's number of steps")
    p.add_argument("--batch-size", type=_positive, default=None, help="override the preset's batch size")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the initial weights and the batches (default 0)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--save-every", type=float, default=120.0, help="seconds between resumable saves (default 120)")


def _world_args(p, seed_default: int = 0, seed_help: str = "seed of the noise and of random actions"):
    p.add_argument("--steps", type=_positive, default=None, help="denoising steps per frame (default: the checkpoint's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale on the action")
    p.add_argument("--warm-start", type=float, default=None, metavar="SIGMA",
                   help="sample each frame from the previous one noised to SIGMA instead of from pure noise (SDEdit; "
                        "0: off; default: the checkpoint's, off unless it was distilled with one)")
    p.add_argument("--seed", type=int, default=seed_default, help=f"{seed_help} (default {seed_default})")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")


def _port(s: str) -> int:
    v = _positive(s)
    if v > 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {v}")
    return v


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {s}")
    return v


def _int_at_least(minimum: int, what: str):
    """An argparse type: an integer >= minimum, with a clear message otherwise."""
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {s!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {v}")
        return v
    return parse


_positive = _int_at_least(1, "positive")
_non_negative = _int_at_least(0, "non-negative")


def cmd_record(args) -> int:
    from .data import BranchConfig, record
    from .envs import make_env
    from agents.policies import recording_policy
    branches = BranchConfig(args.branches, args.branch_actions, args.branch_steps, args.branch_past)
    env = make_env(args.env, size=args.size)
    try:
        out = record(env, args.out, args.episodes, args.steps, recording_policy(args.policy, env), args.seed,
                     branches=branches)
    finally:
        env.close()
    meta = json.loads((out / "meta.json").read_text())
    frames = sum(e["frames"] for e in meta["episodes"])
    extra = f" and {len(meta['branches'])} counterfactual branches" if meta.get("branches") else ""
    print(f"wrote {len(meta['episodes'])} episodes, {frames} frames of {args.env} at {args.size}px{extra} to {out}")
    return 0


def cmd_train(args) -> int:
    from .eval_report import player_summary
    from agents.policies import recording_policy
    from .pipeline import TRAIN_MORE, train_world
    m = train_world(args.env, args.out, args.hours, size=args.size, policy=args.policy, clock=args.clock,
                    latents=args.latents, salience=args.salience_weight, latent_norm=args.latent_norm, seed=args.seed,
                    device=args.device, policies=recording_policy)
    print("\n".join(player_summary(m, colour=sys.stdout.isatty(), more=TRAIN_MORE)))
    print(f"world written to {args.out} (card: {args.out}/MODEL_CARD.md); play it with: worldmodel play {args.out}")
    return 0


def cmd_train_autoencoder(args) -> int:
    from worldmodel.train.autoencoder import train_autoencoder
    m = train_autoencoder(args.data, args.out, args.preset, args.steps, args.batch_size, args.seed, args.device,
                          args.save_every, latent_channels=args.latent_channels,
                          latent_norm=args.latent_norm, downsample=args.downsample)
    print(f"autoencoder {args.preset}: validation PSNR {m['val_psnr']:.2f} dB (train {m['train_psnr']:.2f} dB) "
          f"on {m['val_frames']} held-out frames -> {args.out}")
    return 0


def _diffusion_overrides(args) -> dict:
    """The DiffusionConfig fields set on the command line."""
    names = {"loss_frames": "loss_frames", "clean_context": "p_clean_context", "motion_weight": "motion_weight",
             "salience_weight": "salience_weight", "residual": "residual",
             "p_mean": "p_mean", "p_uncond": "p_uncond", "sigma_max": "sigma_max"}
    return {field: getattr(args, arg) for arg, field in names.items() if getattr(args, arg, None) is not None}


def _model_overrides(items: list[str]) -> dict:
    """--model FIELD=VALUE pairs as DynamicsConfig fields of the right type."""
    from dataclasses import fields
    from dynamics import DynamicsConfig
    types = {f.name: f.type for f in fields(DynamicsConfig)}
    fixed = {"latent_channels", "latent_size", "action_dim"}       # these come from the autoencoder and data
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in types or key in fixed:
            choices = ", ".join(k for k in types if k not in fixed)
            raise ValueError(f"--model takes FIELD=VALUE with FIELD one of {choices}; got {item!r}")
        kind = str(types[key])
        if "bool" in kind:
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"--model {key}: expected true or false, got {value!r}")
            out[key] = value.lower() in ("true", "1")
            continue
        try:
            out[key] = int(value) if "int" in kind else float(value) if "float" in kind else value
        except ValueError:
            raise ValueError(f"--model {key}: expected a {kind}, got {value!r}") from None
    return out


def cmd_train_dynamics(args) -> int:
    from .eval_report import format_table
    from .pipeline import train_and_evaluate_dynamics
    evaluate = None
    if args.eval_every:
        from .evaluate import training_probe
        evaluate = training_probe(args.data, seed=args.seed, device=args.device)
    overrides = {"diffusion": _diffusion_overrides(args)}
    if args.lr is not None:
        overrides["lr"] = args.lr
    if args.optimizer is not None:
        overrides["optimizer"] = args.optimizer
    if args.model:
        overrides["model"] = _model_overrides(args.model)
    out, m = train_and_evaluate_dynamics(
        args.data, args.autoencoder, args.out, eval_starts=args.eval_starts, seed=args.seed, device=args.device,
        preset=args.preset, steps=args.steps, batch_size=args.batch_size, save_every=args.save_every,
        minutes=args.minutes, init=args.init, overrides=overrides, precision=args.precision, evaluate=evaluate,
        eval_every=args.eval_every, branches=False if args.ignore_branches else None)
    print(format_table(m))
    print(f"world written to {out}; play it with: worldmodel play {out}")
    return 0


def cmd_curves(args) -> int:
    from .curves import plot_curves
    print(plot_curves(args.runs, args.out, x=args.x))
    print(f"curves written to {args.out}")
    return 0


def cmd_distill(args) -> int:
    from dynamics.distill import DistillConfig
    from .eval_report import format_table
    from .pipeline import distill_and_evaluate
    from .world_checkpoint import resolve_checkpoint
    cfg = DistillConfig(student_steps=args.steps, teacher_steps=args.teacher_steps, guidance=args.guidance,
                        steps=args.train_steps, batch_size=args.batch_size, lr=args.lr, warm_start=args.warm_start)
    out, report = distill_and_evaluate(resolve_checkpoint(args.teacher), args.data, args.out, cfg,
                                       eval_starts=args.eval_starts, seed=args.seed, device=args.device,
                                       save_every=args.save_every, source=args.teacher, precision=args.precision,
                                       minutes=args.minutes, init=args.init)
    for name in ("student", "teacher"):
        st = report["settings"][name]
        print(f"{name} ({st['steps']} steps, guidance {st['guidance_scale']}), held-out episodes:")
        print(format_table(report[name]))
    print(f"student written to {out}; play it with: worldmodel play {out}  (T switches to the teacher)")
    return 0


def cmd_train_heads(args) -> int:
    from .eval_report import format_heads
    from .evaluate import heads_on_generated, heads_rollouts
    from .train.heads import train_heads
    if args.real_only and args.world_frames_for != "both":
        raise ValueError("--world-frames-for needs the world's frames: leave out --real-only")
    m = train_heads(args.world, args.data, args.steps, args.batch_size, args.seed, args.device,
                    use_action=args.with_action, action_history=args.action_history, coords=args.coords,
                    clock=args.clock, also=args.also, generated=None if args.skip_generated else heads_on_generated,
                    rollouts=None if args.real_only else heads_rollouts, reward_estimate=args.reward_estimate,
                    end_estimate=args.end_estimate, world_frames_for=args.world_frames_for)
    print(format_heads(m))
    return 0


def cmd_play(args) -> int:
    from .world import World
    _check_fps(args.fps)
    if args.record is not None and not args.record.lower().endswith(".mp4"):
        raise ValueError(f"--record must end in .mp4, got {args.record}")
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    ckpt = args.checkpoint_opt or args.checkpoint
    world = World.from_pretrained(ckpt, device=args.device, steps=args.steps, guidance_scale=args.guidance,
                                  warm_start=args.warm_start, seed=args.seed)
    start = args.image  # validated by reset()
    headless = args.headless or not _has_display()
    args.out = args.record or args.out            # headless, --record names the video too
    if not args.headless and headless:
        print(f"no display found: playing headless, writing {args.frames} frames to {args.out}", file=sys.stderr)
    if headless:
        from play.headless import play_headless
        out = play_headless(world, start, args.frames, args.actions, args.out, args.seed, args.scale)
        print(f"wrote {args.frames} frames (the start frame + {args.frames - 1} generated) to {out}")
        return 0
    from play.pygame_app import run_window
    return run_window(world, start, scale=args.scale, fps=args.fps, record=args.record, record_dir=args.record_dir)


def cmd_demo(args) -> int:
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise RuntimeError('the demo needs gradio: pip install -e ".[demo]" (or pip install gradio)') from None
    import torch
    from play.gradio_app import Demo
    _check_fps(args.fps)
    if not args.idle_minutes > 0:
        raise ValueError(f"--idle-minutes must be > 0, got {args.idle_minutes}")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")   # no calls home from a local demo
    demo = Demo(args.checkpoint_opt or args.checkpoint, max_players=args.max_players, device=args.device,
                seed=args.seed, fps=args.fps, idle_minutes=args.idle_minutes)
    torch.set_num_threads(args.threads)                  # only once the demo is sure to start
    print(f"serving {demo.default} on http://{args.host}:{args.port} (Ctrl+C stops)")
    try:
        demo.launch(args.host, args.port)
    except OSError as e:   # gradio's own message names its launch() arguments, not ours
        raise RuntimeError(f"cannot serve on {args.host}:{args.port} (in use, or not an address of this "
                           f"machine): pick another with --port / --host ({e.__class__.__name__})") from None
    return 0


def _training() -> tuple:
    """The commands whose runs save and resume."""
    return (cmd_train_autoencoder, cmd_train_dynamics, cmd_distill, cmd_train_heads)


def _check_fps(fps) -> None:
    import math
    if fps is not None and not (math.isfinite(fps) and fps >= 0):
        raise ValueError(f"--fps must be a number >= 0 (0: as fast as it generates), got {fps}")


def _has_display() -> bool:
    if os.environ.get("SDL_VIDEODRIVER") == "dummy":
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def cmd_eval(args) -> int:
    from .data import POLICIES
    from .eval_report import format_table, player_summary, run_eval
    if args.policy not in POLICIES:
        raise ValueError(f"unknown policy {args.policy!r}; choose from {', '.join(POLICIES)}")
    settings = {k: v for k, v in (("steps", args.steps), ("guidance_scale", args.guidance),
                                  ("warm_start", args.warm_start)) if v is not None}
    m = run_eval(args.checkpoint, args.out, env_spec=args.env, seed=args.seed, episodes=args.episodes,
                 steps=args.episode_steps, starts=args.starts, policy=args.policy,
                 stability_frames=args.stability_frames, device=args.device, world_settings=settings)
    print(format_table(m))
    st = m["stability"]
    print(f"autoencoder reconstruction: {m['recon_psnr']:.2f} dB; one minute of play ({st['frames']} frames): "
          f"finite {st['finite']}, collapsed {st['collapsed']}")
    for n, v in m.get("memory", {}).items():
        print(f"memory, {n} steps away and back: world {v['world']:.2f} dB, real game {v['real']:.2f} dB")
    print("\n".join(player_summary(m, colour=sys.stdout.isatty())))
    print(f"wrote {args.out}/metrics.json and report.md in {m['seconds']:.0f} s")
    return 0


def cmd_bench(args) -> int:
    from .bench import format_bench, run_bench
    if args.warmup < 0:
        raise ValueError(f"--warmup must be >= 0, got {args.warmup}")
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    r = run_bench(args.checkpoint, device=args.device, batch=args.batch, frames=args.frames, warmup=args.warmup,
                  episodes=args.episodes, seed=args.seed, with_quality=not args.no_quality)
    print(format_bench(r))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(r, indent=2))
        print(f"wrote {args.json}")
    return 0


def cmd_agents_eval(args) -> int:
    from agents.harness import evaluate_agents, write_agents_report
    names = [a.strip() for a in args.agents.split(",") if a.strip()]
    r = evaluate_agents(args.checkpoint, names, args.episodes, args.steps, args.seed, args.device, args.batch)
    report = write_agents_report(r, Path(args.out))
    for name, a in r["agents"].items():
        print(f"{name:>12}: real {a['real_return']:7.2f} [{a['real_ci'][0]:.2f}, {a['real_ci'][1]:.2f}]   "
              f"world {a['world_return']:7.2f} [{a['world_ci'][0]:.2f}, {a['world_ci'][1]:.2f}]   "
              f"heads on the game's frames {a['heads_on_real_return']:7.2f}")
    print(f"Spearman {r['spearman']:.3f}, Kendall {r['kendall']:.3f}, "
          f"order agreement {r['pairwise_order_agreement']:.3f} ({r['seconds']:.0f} s); the heads alone on the "
          f"game's episodes: Spearman {r['heads_on_real_spearman']:.3f}; wrote {report}")
    return 0


def cmd_agents_train(args) -> int:
    from agents.harness import score_in_real_game
    from agents.train import train_in_world
    out = train_in_world(args.world, args.out, args.steps, args.num_envs, args.episode_steps, args.seed, args.device,
                         snapshot_every=args.snapshot_every)
    res = score_in_real_game(out, args.eval_episodes, args.episode_steps, seed=args.seed + 1)
    for n, a in res["agents"].items():
        print(f"{n}: real-game return {a['real_return']:.2f} [{a['real_ci'][0]:.2f}, {a['real_ci'][1]:.2f}]")
    print(f"wrote {out}/real.json")
    return 0


def cmd_agents_real(args) -> int:
    from agents.harness import real_ladder
    names = [a.strip() for a in args.agents.split(",") if a.strip()]
    r = real_ladder(args.env, names, args.episodes, args.steps, args.seed, args.size)
    for name, a in r["agents"].items():
        print(f"{name:>12}: real {a['real_return']:7.2f} [{a['real_ci'][0]:.2f}, {a['real_ci'][1]:.2f}]")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(r, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def cmd_agents_bench(args) -> int:
    from agents.harness import bench_vector_env
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    r = bench_vector_env(args.checkpoint, args.num_envs, args.steps, args.repeats, device=args.device)
    print(f"{r['checkpoint']} on {r['device']} ({r['threads']} threads): one world {r['single_steps_per_s']:.1f} "
          f"steps/s; {r['num_envs']} batched {r['vector_steps_per_s_per_world']:.1f} steps/s per world "
          f"({r['speedup_per_world']:.2f}x per world); medians of {r['repeats']}")
    if "real_steps_per_s" in r:
        print(f"the real game {r['real_game']}: {r['real_steps_per_s']:.0f} steps/s alone, so the {r['num_envs']} "
              f"batched worlds step {r['world_vector_vs_real']:.3g}x as fast as the game")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(r, indent=2))
        print(f"wrote {args.json}")
    return 0


def cmd_list(args) -> int:
    from .world_checkpoint import shipped_dir, shipped_worlds
    import checkpoints
    for name in shipped_worlds():
        cfg = json.loads((shipped_dir() / name / "config.json").read_text())
        default = " (default)" if name == checkpoints.DEFAULT else ""
        print(f"{name}{default}: {cfg.get('env', {}).get('env', '?')} at {cfg['autoencoder']['image_size']}px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
