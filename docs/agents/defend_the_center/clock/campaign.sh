#!/usr/bin/env bash
# The clock world: the dtc world's dynamics fine-tuned with the episode clock, distilled, heads,
# its own PPO, and the pre-declared deciding draw (64 episodes, seeds 15000+, ladder + own PPO rungs).
set -e
export PATH=/work/main/.venv/bin:$PATH PYTHONPATH=/work/wt-hist SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy
export MALLOC_MMAP_THRESHOLD_=10000000000 MALLOC_TRIM_THRESHOLD_=10000000000
cd /work/wt-hist; git log --oneline -1; date
R=runs/defend_the_center-clock
D=runs/defend_the_center/world/work
[ -f $R/dynamics/done ] || { worldmodel train-dynamics --data $D/data --autoencoder $D/autoencoder --preset cpu-unet \
    --out $R/dynamics --init $D/dynamics --model clock=true --lr 3e-4 --minutes 35 --steps 100000 --device cpu; touch $R/dynamics/done; }
date
[ -f $R/world/done ] || { worldmodel distill --teacher $R/dynamics --data $D/data --out $R/world --steps 1 --teacher-steps 10 \
    --guidance 2 --init runs/defend_the_center/world --minutes 15 --train-steps 1000000 --device cpu; touch $R/world/done; }
date
mkdir -p $R/world/work; [ -e $R/world/work/data ] || ln -s $D/data $R/world/work/data
[ -e $R/rec-random ] || ln -s runs/defend_the_center/rec-random $R/rec-random
V=$R/heads-expected-sample-coords-plusrandom-worldend
[ -f $V/agents-eval/agents.json ] || scripts/heads_variants.sh $R expected-sample-coords-plusrandom-worldend
date
P=$R/ppo
[ -f $P/real.json ] || worldmodel agents train --world $V --steps 150000 --snapshot-every 50000 --num-envs 16 --eval-episodes 16 --seed 7 --device cpu --out $P
date
worldmodel agents eval $V --agents ladder,trained:$P/stage-51200,trained:$P/stage-100352,trained:$P --episodes 16 --seed 7 --device cpu --out $V/agents-eval-ppo-seed7
date
worldmodel agents eval $V --agents ladder,trained:$P/stage-51200,trained:$P/stage-100352,trained:$P --episodes 64 --seed 15 --device cpu --out $V/agents-eval-ppo-seed15-64
date; echo DONE
