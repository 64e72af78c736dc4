#!/usr/bin/env bash
# Train a real-game world on 2 CPU cores: record -> PCA autoencoder (closed form) -> dynamics
# (the `cpu` preset, 1.4M parameters) -> held-out rollout table. This is the recipe of the shipped
# `boxing` and `doom` worlds (see their MODEL_CARD.md):
#   scripts/train_cpu_world.sh atari:Boxing runs/boxing 100 400 1600
#   scripts/train_cpu_world.sh vizdoom:E1M1 runs/doom 100 300 1600
# Usage: scripts/train_cpu_world.sh ENV RUNDIR [EPISODES] [STEPS_PER_EPISODE] [DYNAMICS_STEPS]
# Resumable: rerun with the same RUNDIR after a kill and each stage picks up where it stopped.
set -euo pipefail
ENV=${1:?usage: scripts/train_cpu_world.sh ENV RUNDIR [EPISODES] [STEPS_PER_EPISODE] [DYNAMICS_STEPS]}
RUN=${2:?usage: scripts/train_cpu_world.sh ENV RUNDIR [EPISODES] [STEPS_PER_EPISODE] [DYNAMICS_STEPS]}
EPISODES=${3:-100}
EP_STEPS=${4:-400}
DYN_STEPS=${5:-1600}
# glibc: keep big freed blocks instead of returning (and re-faulting) pages; 1.6-2.7x faster here
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-10000000000} MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-10000000000}
mkdir -p "$RUN"
if [ ! -f "$RUN/data/meta.json" ]; then
  worldmodel record --env "$ENV" --episodes "$EPISODES" --steps "$EP_STEPS" --policy sticky --seed 0 --size 64 --out "$RUN/data"
fi
[ -f "$RUN/ae-pca/metrics.json" ] || worldmodel train-autoencoder --data "$RUN/data" --preset pca --out "$RUN/ae-pca"
worldmodel train-dynamics --data "$RUN/data" --autoencoder "$RUN/ae-pca" --preset cpu --out "$RUN/world" \
  --steps "$DYN_STEPS" --device cpu --eval-starts 4
