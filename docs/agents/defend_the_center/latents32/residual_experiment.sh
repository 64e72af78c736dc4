#!/usr/bin/env bash
# Declared 2026-12-07 (sixth session), not yet run: does a denoiser preconditioned around the
# previous frame (train-dynamics --residual) keep defend_the_center's demons where the plain one
# wipes them (scripts/warm_start_probe.py: under a third kept even from a frame noised to 1)?
# Two runs from scratch on the salience campaign's recording and 32-channel autoencoder
# (../salience/campaign.sh, run folder /work/runs/dtcm4), 30 minutes each, alone, one after the
# other, the same in everything (cpu-unet, the clock, seed 0) but --residual; then on both:
# target_sight.py --one-step-only at the teacher's sampling (10 steps, guidance 2) with --sigmas,
# and warm_start_probe.py. Run with PYTHONPATH at a worktree of the commit that adds --residual.
# The deciding numbers: of the game's demon frames, the share the world shows one in one step on,
# against its chance level; and of the world's demon frames, the share the game shows one in.
set -euo pipefail
R=/work/runs/dtcm4
mkdir -p $R/resexp
cd $R/resexp
for v in plain residual; do
  flag=""; [ $v = residual ] && flag="--residual"
  [ -f $v/done ] || { worldmodel train-dynamics --data $R/world/work/data --autoencoder $R/world/work/autoencoder \
      --preset cpu-unet --model clock=true --minutes 30 $flag --eval-starts 1 --seed 0 --device cpu --out $v \
      && touch $v/done; }
done
for v in plain residual; do
  [ -f $v/target_sight.txt ] || python $PYTHONPATH/scripts/target_sight.py $v --episodes 4 --steps 120 --bins 20 \
      --one-step-only --sample-steps 10 --guidance 2 --sigmas 0.3 1 2 5 > $v/target_sight.txt
done
[ -f warm_start.txt ] || python $PYTHONPATH/scripts/warm_start_probe.py plain residual > warm_start.txt
echo EXP DONE
