#!/usr/bin/env bash
# Declared 2026-12-07 (eighth session), before it ran: do whitened latents (train-autoencoder
# --latent-norm channel: each latent channel at unit std) let the dynamics carry
# defend_the_center's demons from one frame to the next? With one shared std the 32-channel patch
# PCA's channel stds run from 4.8 to 0.07, so the fine channels that hold a distant demon drown
# in the noise long before the structure does (at sigma 1, 15x under it) and weigh almost nothing
# in the loss. One run from scratch, 30 minutes alone, the same as residual_experiment.sh's plain
# arm (cpu-unet, the clock, seed 0, the salience campaign's recording in /work/runs/dtcm4) but on
# an autoencoder fitted with --latent-norm channel; its plain arm (resexp/plain) is the comparison.
# Then target_sight.py --sigmas and warm_start_probe.py on it, as for those arms.
# The deciding numbers, one step from each game frame: of the game's demon frames, the share the
# world shows one in, against chance (plain 0.08 at chance 0.12; residual 0.16 at 0.12; repeating
# the frame 0.62 at 0.25); of the world's demon frames, the share the game shows one in (plain 0.24
# at chance 0.34, residual 0.46, repeating 0.90 at 0.36); and the card's PSNR@1 against copy-last
# (plain 27.95 against 27.09), so that a world that carries demons but loses the picture shows.
# Run with PYTHONPATH at a worktree of the commit that adds --latent-norm.
set -euo pipefail
R=/work/runs/dtcm4
mkdir -p $R/resexp
cd $R/resexp
[ -f ae_channel/metrics.json ] || worldmodel train-autoencoder --data $R/world/work/data --preset pca \
    --latent-channels 32 --latent-norm channel --seed 0 --out ae_channel
[ -f whiten/done ] || { worldmodel train-dynamics --data $R/world/work/data --autoencoder ae_channel \
    --preset cpu-unet --model clock=true --minutes 30 --eval-starts 1 --seed 0 --device cpu --out whiten \
    && touch whiten/done; }
[ -f whiten/target_sight.txt ] || python $PYTHONPATH/scripts/target_sight.py whiten --episodes 4 --steps 120 --bins 20 \
    --one-step-only --sample-steps 10 --guidance 2 --sigmas 0.3 1 2 5 > whiten/target_sight.txt
[ -f warm_start_whiten.txt ] || python $PYTHONPATH/scripts/warm_start_probe.py whiten > warm_start_whiten.txt
echo EXP DONE
