#!/usr/bin/env bash
# The recipe search of issue 16 ("Worlds that follow their actions"): dynamics variants trained one
# after another on the same recording, each for the same number of training steps (STEPS: what
# the budget of CPU minutes buys alone on the cores; variants with other step costs get those
# minutes of training time instead, MINUTES below), so
# that light work beside them slows them down but does not make the comparison unfair, with
# held-out learning curves every 4 training minutes (train-dynamics --eval-every).
#
#   scripts/recipe_search.sh DATA AE OUT [STEPS] [VARIANT ...]
#
# DATA: a `worldmodel record --branches ...` folder; AE: an autoencoder run on it; OUT: a folder
# for the runs (OUT/NAME). Safe to start again after a kill: finished variants (metrics.json) are
# skipped, a killed one resumes from its last save. Then:
#   worldmodel curves OUT/df-branch OUT/df-nobranch ... --x steps --out curves.png
set -euo pipefail
DATA=$1 AE=$2 OUT=$3 STEPS=${4:-2900}
shift $(( $# < 4 ? $# : 4 ))
declare -A FLAGS=(
  [df-nobranch]="--ignore-branches"                 # today's recipe: Diffusion Forcing, recorded play only
  [df-branch]=""                                    # + counterfactual branches
  [last-clean]="--loss-frames last --clean-context 1.0"
  [pmean-high]="--p-mean 0.4"                       # training noise centred higher
  [muon]="--optimizer muon"
  [no-dropout]="--p-uncond 0"                       # the action is never dropped (no CFG)
  [patch4]="--model patch=4"                        # 4x4 latent patches: 16 tokens a frame, ~4x cheaper steps
  [conv]="--model conv_width=32"                    # a residual conv stem and head around the blocks
  [warp]="--model warp=true"                        # the previous frame warped by the action (motion compensation)
  # round 2: the round-1 leader (warp) combined with one other change each
  [warp-pmean]="--model warp=true --p-mean 0.4"
  [warp-lastclean]="--model warp=true --loss-frames last --clean-context 1.0"
  [warp-muon]="--model warp=true --optimizer muon"
  [warp-conv]="--model warp=true --model conv_width=32"
  [warp-pmean-muon]="--model warp=true --p-mean 0.4 --optimizer muon"   # the round-2 leader + Muon
)
# variants whose steps cost another amount of CPU get the same training minutes instead of steps
declare -A MINUTES=([patch4]=23 [conv]=23 [warp-conv]=23)
ORDER=(df-branch df-nobranch last-clean patch4 pmean-high warp conv muon no-dropout)
[ $# -gt 0 ] && ORDER=("$@")
mkdir -p "$OUT"
# one latent cache for every variant that trains on the branches (it is large: 16 KB a frame)
# (made here, or checked against its inputs and made again)
python - "$DATA" "$AE" "$OUT/cache-branch" <<'PY'
import sys
from pathlib import Path
from worldmodel.world_checkpoint import load_autoencoder
from worldmodel.train.dynamics import latent_key, load_or_encode, training_sequences
from worldmodel.data import load_episodes, split_episodes
data, ae, out = sys.argv[1:]
meta, eps = load_episodes(data)
train, _ = split_episodes(len(eps), seed=0)
seqs, _, names = training_sequences(data, meta, eps, train)
Path(out).mkdir(parents=True, exist_ok=True)
ae = load_autoencoder(ae)
load_or_encode(ae, seqs, Path(out), "cpu", latent_key(ae, data, names))
PY
for name in "${ORDER[@]}"; do
  if [ -z "${FLAGS[$name]+set}" ]; then echo "unknown variant $name; choose from ${!FLAGS[*]}" >&2; exit 2; fi
  run="$OUT/$name"
  if [ -f "$run/metrics.json" ]; then echo "== $name: done"; continue; fi
  mkdir -p "$run"
  if [ "${FLAGS[$name]}" != "--ignore-branches" ] && ! [ "$run/latents.safetensors" -ef "$OUT/cache-branch/latents.safetensors" ]; then
    ln -f "$OUT/cache-branch/latents.safetensors" "$run/latents.safetensors"
  fi
  echo "== $name: ${FLAGS[$name]}  ($(date -u +%H:%M))"
  # shellcheck disable=SC2086
  budget="--steps $STEPS"
  [ -n "${MINUTES[$name]:-}" ] && budget="--steps 100000 --minutes ${MINUTES[$name]}"
  # shellcheck disable=SC2086
  worldmodel train-dynamics --data "$DATA" --autoencoder "$AE" --preset cpu --out "$run" $budget \
      --eval-every 4 --eval-starts 2 --device cpu ${FLAGS[$name]}
done
