#!/usr/bin/env bash
# Issue 19, 2026-12-07 (fourth session): a defend_the_center world recorded from several players
# (mix:explore:aim,explore:aim-left,random), with the episode clock, at commit 2ec86e5.
# Declared before anything was trained:
#   heads for PPO: expected-sample-coords-plusrandom-worldend (frames only, the world's frames
#   teach the end head only; the best with its own PPO so far, 0.883);
#   the deciding draw: 64 fresh episodes a agent, seeds 17000+ (`--episodes 64 --seed 17`), the
#   ladder and this world's own PPO rungs (51200, 100352, final): Spearman over those 9 agents.
set -euo pipefail
cd /work/runs/dtcm
RUN=/work/runs/dtcm
V=expected-sample-coords-plusrandom-worldend
H=$RUN/heads-$V
worldmodel train --env vizdoom:defend_the_center --hours 1.5 --policy mix:explore:aim,explore:aim-left,random \
    --clock --out $RUN/world --device cpu
[ -f $H/agents-eval/report.md ] || bash /work/wt-hist/scripts/heads_variants.sh $RUN $V
[ -f $H/cycles/report.md ] || worldmodel agents eval $H --agents cycle:6-6-9-9,cycle:5-5-9-9,cycle:6-9,cycle:5-9 \
    --episodes 16 --seed 7 --device cpu --out $H/cycles
worldmodel agents train --world $H --steps 150000 --snapshot-every 50000 --num-envs 16 --eval-episodes 16 --seed 7 \
    --device cpu --out $RUN/ppo
P=$RUN/ppo
[ -f $H/ppo_seed17_64/report.md ] || worldmodel agents eval $H \
    --agents ladder,trained:$P/stage-51200,trained:$P/stage-100352,trained:$P --episodes 64 --seed 17 --device cpu \
    --out $H/ppo_seed17_64
echo CAMPAIGN DONE
