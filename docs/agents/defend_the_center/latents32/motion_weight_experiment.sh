#!/usr/bin/env bash
# Does up-weighting where the past frames moved (--motion-weight) teach the dynamics to carry
# defend_the_center's demons? Two fine-tunes of the 32-channel campaign's dynamics at step 10,803
# (snap-10803), identical but for --motion-weight (0: control; 10), 18 minutes each, one after the
# other; then target_sight --one-step-only at the teacher's sampling (10 steps, guidance 2) on both.
set -euo pipefail
R=/work/runs/dtcm3
cd $R/mwexp
for mw in 0 10; do
  [ -f mw$mw/done ] || { worldmodel train-dynamics --data $R/world/work/data --autoencoder $R/world/work/autoencoder \
      --preset cpu-unet --model clock=true --init $R/snap-10803 --minutes 18 --lr 3e-4 --motion-weight $mw \
      --eval-starts 1 --seed 0 --device cpu --out mw$mw && touch mw$mw/done; }
done
for mw in 0 10; do
  [ -f mw$mw/target_sight.txt ] || python /work/wt-exp/scripts/target_sight.py mw$mw --episodes 4 --steps 120 --bins 20 \
      --one-step-only --sample-steps 10 --guidance 2 > mw$mw/target_sight.txt
done
echo EXP DONE
