#!/usr/bin/env bash
# The training campaign of issue 16 ("Worlds that follow their actions"): the recipe the search
# chose (docs/TRAINING.md), trained for the default world in many stops and starts. Run it in the
# background from a git worktree at a fixed commit, alone on the cores:
#
#   MINUTES=100 scripts/campaign.sh DATA AE RUN [INIT] [EXTRA FLAGS...]
#
# NET picks the network and its recipe: "unet" (default since session 8: the `cpu-unet` preset, the
# frame-stacking U-Net, dim 64, depth 2, loss on the newest frame from a clean past, lr 6e-4; the
# shipped doom world; sessions 8-9 ran it as `--preset cpu` with those fields given as flags) or
# "transformer" (the 1.36M transformer with the action warp and Diffusion Forcing on every frame,
# lr 1e-3: what sessions 1-5 of docs/TRAINING.md ran as "scripts/campaign.sh").
#
# DATA: the E1M1 recording with branches (docs/TRAINING.md gives the record command; recording is
# deterministic, so a lost one is made again bit for bit), AE: the PCA autoencoder fitted on it,
# RUN: the run folder. A killed run resumes from its last save (every 2 minutes). INIT: a world
# checkpoint to start from when RUN holds no run yet (the newest shipped snapshot); "-" for none.
#
# MINUTES (default 100) is the run's budget of training minutes, kept across resumes: after 50
# steps the step count is set to what fits, and the learning rate warms up and decays over it.
# Nothing but git survives from one working session to the next on this project's machines, so
# each session trains one such run from the last shipped snapshot (a warm restart of the schedule)
# and ships its end if its fresh-seed eval is better. Held-out learning-curve points every 25
# training minutes go to RUN/log.jsonl (`worldmodel curves RUN`).
set -euo pipefail
DATA=$1 AE=$2 RUN=$3 INIT=${4:--}
shift $(( $# < 4 ? $# : 4 ))
init=()
if [ "$INIT" != "-" ] && [ ! -f "$RUN/train_state.json" ]; then init=(--init "$INIT"); fi
case "${NET:-unet}" in
    unet) recipe=(--preset cpu-unet) ;;
    transformer) recipe=(--preset cpu --model warp=true) ;;
    *) echo "NET must be unet or transformer, got ${NET}" >&2; exit 2 ;;
esac
export MALLOC_MMAP_THRESHOLD_=10000000000 MALLOC_TRIM_THRESHOLD_=10000000000
exec worldmodel train-dynamics --data "$DATA" --autoencoder "$AE" --out "$RUN" \
    --steps 1000000 --minutes "${MINUTES:-100}" --eval-every 25 --eval-starts 2 --device cpu \
    --p-mean 0.4 --sigma-max 20 "${recipe[@]}" "${init[@]}" "$@"
