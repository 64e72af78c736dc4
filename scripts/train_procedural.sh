#!/usr/bin/env bash
# Train the shipped procedural world from scratch: record -> autoencoder -> dynamics (+ eval).
# Usage: scripts/train_procedural.sh RUNDIR [DYNAMICS_MINUTES]
# Overrides (environment): EPISODES (400), AE_STEPS / AE_BATCH, DYN_BATCH (preset defaults).
# Resumable: rerun with the same RUNDIR after a kill and each stage picks up where it stopped.
set -euo pipefail
RUN=${1:?usage: scripts/train_procedural.sh RUNDIR [DYNAMICS_MINUTES]}
MIN=${2:-}
EPISODES=${EPISODES:-400}
mkdir -p "$RUN"
if [ ! -f "$RUN/data/meta.json" ]; then
  worldmodel record --env procedural --episodes "$EPISODES" --steps 100 --policy sticky --seed 0 --size 64 --out "$RUN/data"
fi
[ -f "$RUN/ae/metrics.json" ] || worldmodel train-autoencoder --data "$RUN/data" --preset small --out "$RUN/ae" \
  ${AE_STEPS:+--steps "$AE_STEPS"} ${AE_BATCH:+--batch-size "$AE_BATCH"}
worldmodel train-dynamics --data "$RUN/data" --autoencoder "$RUN/ae" --preset small --out "$RUN/world" \
  ${MIN:+--minutes "$MIN"} ${DYN_BATCH:+--batch-size "$DYN_BATCH"}
