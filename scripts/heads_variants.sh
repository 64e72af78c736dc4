#!/usr/bin/env bash
# How a world's reward/episode-end heads change its verdict on agents: refit the heads of a world
# made by scripts/agents_benchmark.sh two ways, both on the recording plus the world's own frames
# of it, and rank the game's ladder of agents in each (fresh seeds 7000+, as that script does):
#   class:    the likeliest reward class under a class-balanced loss (the heads before 2026-12-06)
#   expected: the probability-weighted reward under a plain loss (the default now)
# A variant may add "-sample": the episode ends drawn from the end head's calibrated probability
# instead of a threshold (`worldmodel train-heads --end-estimate`), and "-action": heads that read
# the action taken besides the frames (`--with-action`); e.g. expected-sample-action.
# Each variant is a copy of RUN/world (its dynamics untouched) in RUN/heads-VARIANT, with its
# `agents eval` in RUN/heads-VARIANT/agents-eval. About 11 minutes a variant on 2 cores.
# Usage: scripts/heads_variants.sh [RUN] [VARIANTS]   (default: runs/defend_the_center "class expected")
set -euo pipefail
RUN=${1:-runs/defend_the_center}
VARIANTS=${2:-class expected}
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-10000000000} MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-10000000000}
[ -f "$RUN/world/config.json" ] || { echo "no world in $RUN/world: run scripts/agents_benchmark.sh $RUN first" >&2; exit 2; }
for v in $VARIANTS; do
    out="$RUN/heads-$v"
    IFS=- read -r reward flags <<< "$v"
    end=threshold action=()
    for f in ${flags//-/ }; do
        case $f in
            sample) end=sample ;;
            action) action=(--with-action) ;;
            *) echo "unknown variant flag '$f' in '$v' (known: sample, action)" >&2; exit 2 ;;
        esac
    done
    rm -rf "$out" && mkdir -p "$out"
    # the checkpoint only (not its work/ folder of training state, nor its eval/)
    dest=$(cd "$out" && pwd)
    find "$RUN/world" -mindepth 1 -maxdepth 1 ! -name work ! -name eval -exec cp -r {} "$dest/" \;
    worldmodel train-heads "$out" --data "$RUN/world/work/data" --reward-estimate "$reward" --end-estimate "$end" \
        "${action[@]}" --device cpu
    worldmodel agents eval "$out" --agents ladder --episodes 16 --seed 7 --device cpu --out "$out/agents-eval"
done
