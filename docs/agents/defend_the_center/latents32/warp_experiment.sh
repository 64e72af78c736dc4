#!/usr/bin/env bash
# Declared 2026-12-07 (ninth session), before it ran: does handing the U-Net its previous frame
# already moved by the action (--model warp=true: the transformer's warp, flow MLP and warp loss,
# as one more stacked frame; commit b443a38) let the dynamics carry defend_the_center's demons to a
# frame sampled from noise? Every world so far keeps a demon it is shown (the whitened 3-hour
# teacher: 0.76 from noise 1) and places new frames' demons at chance, and a turn moves the view
# part of a latent cell a step (latents32/view_shift.txt). One run from scratch, 30 minutes alone,
# the same as whiten_experiment.sh's arm (whitened 32-channel 4x4 latents ae_channel, cpu-unet, the
# clock, seed 0, the salience campaign's recording) but with the warp; resexp/whiten is the
# comparison. The deciding numbers, one step from each game frame (target_sight.py
# --one-step-only): of the game's demon frames, the share the world shows one in, against chance
# (whitened 0.25 at 0.21; repeating the frame 0.62 at 0.25); of its demon frames, the game's share
# (0.40 at 0.34; repeating 0.90); the card's PSNR@1 and dPSNR@4 against the whitened arm's (27.84,
# 0.51), so that a warp that moves demons but loses the keys or the picture shows.
# Run with PYTHONPATH at a worktree of b443a38 or later.
set -euo pipefail
R=/work/runs/dtcm4
cd $R/resexp
[ -f ae_channel/metrics.json ] || { echo "needs whiten_experiment.sh's ae_channel" >&2; exit 1; }
[ -f warp/done ] || { worldmodel train-dynamics --data $R/world/work/data --autoencoder ae_channel \
    --preset cpu-unet --model clock=true --model warp=true --minutes 30 --eval-starts 1 --seed 0 --device cpu \
    --out warp && touch warp/done; }
[ -f warp/target_sight.txt ] || python $PYTHONPATH/scripts/target_sight.py warp --episodes 4 --steps 120 --bins 20 \
    --one-step-only --sample-steps 10 --guidance 2 --sigmas 0.3 1 2 5 > warp/target_sight.txt
echo EXP DONE
