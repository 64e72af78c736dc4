#!/usr/bin/env bash
# Issue 19, started 2026-12-07 (end of the fourth session), at commit 9b12b58: the three-player
# recording again, weighted toward aimed play (2/5 explore:aim, 2/5 explore:aim-left, 1/5 random),
# 3 hours (200 episodes, ~2 h of dynamics), so that the world sees what `aim` sees.
# Resumable: rerun this script; every stage skips or resumes.
# Stopped 2026-12-07 12:21 UTC, 21 minutes into its dynamics, before any world existed, and replaced
# by campaign_latents32.sh (the same with a 32-channel autoencoder; reason there).
# Declared before anything was trained:
#   first check: python scripts/target_sight.py $H (aim's target in sight in the world vs the game);
#   heads for PPO: expected-sample-coords-plusrandom-worldend (as in the fourth session);
#   the deciding draw: 64 fresh episodes a agent, seeds 19000+ (`--episodes 64 --seed 19`), the ladder
#   and this world's own PPO rungs (51200, 100352, final): Spearman over those 9 agents.
set -euo pipefail
cd /work/runs/dtcm2
RUN=/work/runs/dtcm2
V=expected-sample-coords-plusrandom-worldend
H=$RUN/heads-$V
worldmodel train --env vizdoom:defend_the_center --hours 3 \
    --policy mix:explore:aim+explore:aim-left+explore:aim+explore:aim-left+random --clock --out $RUN/world --device cpu
[ -f $H/agents-eval/report.md ] || bash /work/wt-hist/scripts/heads_variants.sh $RUN $V
[ -f $H/target_sight.txt ] || python /work/wt-hist/scripts/target_sight.py $H --episodes 4 --steps 120 > $H/target_sight.txt
[ -f $H/cycles/report.md ] || worldmodel agents eval $H --agents cycle:6-6-9-9,cycle:5-5-9-9,cycle:6-9,cycle:5-9 \
    --episodes 16 --seed 7 --device cpu --out $H/cycles
worldmodel agents train --world $H --steps 150000 --snapshot-every 50000 --num-envs 16 --eval-episodes 16 --seed 7 \
    --device cpu --out $RUN/ppo
P=$RUN/ppo
[ -f $H/ppo_seed19_64/report.md ] || worldmodel agents eval $H \
    --agents ladder,trained:$P/stage-51200,trained:$P/stage-100352,trained:$P --episodes 64 --seed 19 --device cpu \
    --out $H/ppo_seed19_64
echo CAMPAIGN DONE
