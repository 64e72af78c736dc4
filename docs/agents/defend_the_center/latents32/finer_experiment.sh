#!/usr/bin/env bash
# Declared 2026-12-07 (ninth session), before it ran: do finer latents let the dynamics carry
# defend_the_center's demons from one frame to the next? scripts/view_shift.py measured the view's
# shift per step (latents32/view_shift.txt): a mouse turn moves it a median 2 px, a mean 3.1 px,
# half of one 4-px latent cell, and a distant demon is a few pixels wide, so at 16x16 latents both
# the motion and the demon live below one cell. Here the patch PCA keeps 2x2-pixel patches
# (train-autoencoder --downsample 2: 32x32 latents, 12 channels, which a 2x2x3 patch fills
# exactly, so the autoencoder loses nothing), whitened (--latent-norm channel, the best of the
# eighth session's arms at keeping demons through the noise). One run from scratch, 30 minutes
# alone, on the same recording, preset, clock and seed as resexp/plain and resexp/whiten
# (residual_experiment.sh, whiten_experiment.sh). A 32x32 U-Net costs about 4x a step at
# 16x16, so it gets about a quarter of their steps: the comparison is at equal wall-clock, which
# is what a user pays; its step count is reported with it.
# The deciding numbers, one step from each game frame (target_sight.py --one-step-only): of the
# game's demon frames, the share the world shows one in, against chance (plain 0.08 at 0.12;
# whitened 0.25 at 0.21; repeating the frame 0.62 at 0.25); of the world's demon frames, the share
# the game shows one in (plain 0.24 at 0.34; whitened 0.40 at 0.34; repeating 0.90 at 0.36); and
# the card's PSNR@1 against copy-last (whitened 27.84 against 27.09), so that a world that carries
# demons but loses the picture shows.
# Run with PYTHONPATH at a worktree of the commit that adds --downsample (4b30528 or later).
set -euo pipefail
R=/work/runs/dtcm4
mkdir -p $R/resexp
cd $R/resexp
[ -f ae_fine/metrics.json ] || worldmodel train-autoencoder --data $R/world/work/data --preset pca \
    --downsample 2 --latent-channels 12 --latent-norm channel --seed 0 --out ae_fine
[ -f fine/done ] || { worldmodel train-dynamics --data $R/world/work/data --autoencoder ae_fine \
    --preset cpu-unet --model clock=true --minutes 30 --eval-starts 1 --seed 0 --device cpu --out fine \
    && touch fine/done; }
[ -f fine/target_sight.txt ] || python $PYTHONPATH/scripts/target_sight.py fine --episodes 4 --steps 120 --bins 20 \
    --one-step-only --sample-steps 10 --guidance 2 --sigmas 0.3 1 2 5 > fine/target_sight.txt
echo EXP DONE
