#!/usr/bin/env bash
# Does up-weighting what the median frame lacks (--salience-weight) teach the dynamics to keep
# defend_the_center's demons? One fine-tune of the 32-channel campaign's dynamics at step 10,803
# (snap-10803), 18 minutes, as the motion-weight experiment's control mw0 (../mwexp/mw0) but for
# --salience-weight 10; then target_sight --one-step-only at the teacher's sampling (10 steps,
# guidance 2). Run with PYTHONPATH at a worktree of the commit that adds --salience-weight.
set -euo pipefail
R=/work/runs/dtcm3
cd $R/salexp
[ -f sal10/done ] || { worldmodel train-dynamics --data $R/world/work/data --autoencoder $R/world/work/autoencoder \
    --preset cpu-unet --model clock=true --init $R/snap-10803 --minutes 18 --lr 3e-4 --salience-weight 10 \
    --eval-starts 1 --seed 0 --device cpu --out sal10 && touch sal10/done; }
[ -f sal10/target_sight.txt ] || python $PYTHONPATH/scripts/target_sight.py sal10 --episodes 4 --steps 120 --bins 20 \
    --one-step-only --sample-steps 10 --guidance 2 > sal10/target_sight.txt
echo EXP DONE
