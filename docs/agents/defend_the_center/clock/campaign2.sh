#!/usr/bin/env bash
# Continues campaign.sh (its dynamics fine-tune still running as PID 18875) with two heads variants.
# campaign.sh (not kept: the rest of it is this script's) ran, at d050a8a, with R and D as below:
#   worldmodel train-dynamics --data $D/data --autoencoder $D/autoencoder --preset cpu-unet \
#       --out $R/dynamics --init $D/dynamics --model clock=true --lr 3e-4 --minutes 35 --steps 100000 --device cpu
set -e
export PATH=/work/main/.venv/bin:$PATH PYTHONPATH=/work/wt-hist SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy
export MALLOC_MMAP_THRESHOLD_=10000000000 MALLOC_TRIM_THRESHOLD_=10000000000
R=runs/defend_the_center-clock
D=runs/defend_the_center/world/work
while kill -0 18875 2>/dev/null; do sleep 10; done
grep -q '"event": "done"' $R/dynamics/log.jsonl || { echo "dynamics did not finish"; exit 1; }
touch $R/dynamics/done; date; echo "dynamics done; waiting for $R/go"
while [ ! -f $R/go ]; do sleep 10; done
cd /work/wt-hist; git log --oneline -1; date
[ -f $R/world/done ] || { worldmodel distill --teacher $R/dynamics --data $D/data --out $R/world --steps 1 --teacher-steps 10 \
    --guidance 2 --init runs/defend_the_center/world --minutes 15 --train-steps 1000000 --device cpu; touch $R/world/done; }
date
mkdir -p $R/world/work; [ -e $R/world/work/data ] || ln -s $D/data $R/world/work/data
[ -e $R/rec-random ] || ln -s runs/defend_the_center/rec-random $R/rec-random
A=expected-sample-coords-plusrandom-worldend
B=$A-clock
for v in $A $B; do
    [ -f $R/heads-$v/agents-eval/agents.json ] || scripts/heads_variants.sh $R $v
    date
done
# the variant PPO trains in (declared before either was fitted): the higher ladder Spearman on
# seeds 7000+; a tie goes to the smaller summed |world - real| return over the ladder
V=$(python - $R/heads-$A/agents-eval/agents.json $R/heads-$B/agents-eval/agents.json <<'P'
import json, sys
def key(p):
    d = json.load(open(p))
    return (-d["spearman"], sum(abs(a["world_return"] - a["real_return"]) for a in d["agents"].values()))
best = min(sys.argv[1:], key=key)
for p in sys.argv[1:]:
    print(p, key(p), file=sys.stderr)
print(best.split("/heads-")[1].split("/")[0])
P
)
echo "PPO trains in heads-$V"; V=$R/heads-$V
P=$R/ppo
[ -f $P/real.json ] || worldmodel agents train --world $V --steps 150000 --snapshot-every 50000 --num-envs 16 --eval-episodes 16 --seed 7 --device cpu --out $P
date
worldmodel agents eval $V --agents ladder,trained:$P/stage-51200,trained:$P/stage-100352,trained:$P --episodes 16 --seed 7 --device cpu --out $V/agents-eval-ppo-seed7
date
worldmodel agents eval $V --agents ladder,trained:$P/stage-51200,trained:$P/stage-100352,trained:$P --episodes 64 --seed 15 --device cpu --out $V/agents-eval-ppo-seed15-64
date; echo DONE
