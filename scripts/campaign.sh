#!/usr/bin/env bash
# The training campaign of issue 16 ("Worlds that follow their actions"): the recipe the search
# chose (docs/TRAINING.md), trained for the default world for as long as its curve rises, in many
# stops and starts. Run it in the background from a git worktree at a fixed commit, alone on the
# cores:
#
#   scripts/campaign.sh DATA AE RUN [INIT] [EXTRA FLAGS...]
#
# DATA: the E1M1 recording with branches (docs/TRAINING.md gives the record command; recording is
# deterministic, so a lost one is made again bit for bit), AE: the PCA autoencoder fitted on it,
# RUN: the run folder. A killed run resumes from its last save (every 2 minutes). INIT: a world
# checkpoint to start from when RUN holds no run yet (the search's winner, or the newest shipped
# snapshot when the machine that held RUN was lost); "-" for none.
#
# The budget is 20 hours of training (--minutes 1200, kept across resumes): after 50 steps the
# step count is set to what fits, and the learning rate decays over it. Held-out learning-curve
# points every 30 training minutes go to RUN/log.jsonl (`worldmodel curves RUN`).
set -euo pipefail
DATA=$1 AE=$2 RUN=$3 INIT=${4:--}
shift $(( $# < 4 ? $# : 4 ))
init=()
if [ "$INIT" != "-" ] && [ ! -f "$RUN/train_state.json" ]; then init=(--init "$INIT"); fi
export MALLOC_MMAP_THRESHOLD_=10000000000 MALLOC_TRIM_THRESHOLD_=10000000000
exec worldmodel train-dynamics --data "$DATA" --autoencoder "$AE" --preset cpu --out "$RUN" \
    --steps 1000000 --minutes 1200 --eval-every 30 --eval-starts 2 --device cpu \
    --model warp=true --p-mean 0.4 --sigma-max 20 "${init[@]}" "$@"
