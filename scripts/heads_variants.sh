#!/usr/bin/env bash
# How a world's reward/episode-end heads change its verdict on agents: refit the heads of a world
# made by scripts/agents_benchmark.sh in each of several ways, all on the recording plus the
# world's own frames of it, and rank the game's ladder of agents in each (fresh seeds 7000+, as
# that script does). A variant names how the reward is read:
#   class:    the likeliest reward class under a class-balanced loss (the heads before 2026-12-06)
#   expected: the probability-weighted reward under a plain loss (the default now)
# A variant may add "-sample": the episode ends drawn from the end head's calibrated probability
# instead of a threshold (`worldmodel train-heads --end-estimate`), "-action": heads that read
# the action taken besides the frames (`--with-action`), or "-actionsK": the latest K actions
# (`--with-action --action-history K`), "-coords": heads that see where on screen things are
# (`--coords`), "-plusrandom": the fit also gets 100 episodes of uniformly random play (recorded
# once into RUN/rec-random, game seeds 500,015+; `--also`), so the heads see more than one way
# of playing; "-plusexplore": 100 episodes of `explore:random` (random play that repeats its
# action with a stickiness drawn each episode: single taps and long holds alike; RUN/rec-explore,
# seeds 600,018+); "-realonly": the heads fit on real latents only, without the world's own frames
# (`--real-only`); "-worldend": the world's own frames teach the end head only, the reward head
# fitting on real latents alone (`--world-frames-for end`); "-clock": heads that read how many
# steps the episode has run (`--clock`); e.g. expected-sample-action,
# expected-sample-actions8-coords-plusrandom.
# Each variant is a copy of RUN/world (its dynamics untouched) in RUN/heads-VARIANT, with its
# `agents eval` in RUN/heads-VARIANT/agents-eval. About 11 minutes a variant on 2 cores.
# Usage: scripts/heads_variants.sh [RUN] [VARIANTS]   (default: runs/defend_the_center "class expected")
set -euo pipefail
RUN=${1:-runs/defend_the_center}
VARIANTS=${2:-class expected}
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-10000000000} MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-10000000000}
[ -f "$RUN/world/config.json" ] || { echo "no world in $RUN/world: run scripts/agents_benchmark.sh $RUN first" >&2; exit 2; }
variant_args() {   # VARIANT -> train-heads arguments, or exit 2 on a name it does not know
    local reward flags f end=threshold action="" coords="" also="" real="" clock=""
    IFS=- read -r reward flags <<< "$1"
    case $reward in class|expected) ;; *) echo "unknown reward reading '$reward' in '$1' (known: class, expected)" >&2; exit 2 ;; esac
    for f in ${flags//-/ }; do
        case $f in
            sample) end=sample ;;
            action) action=--with-action ;;
            actions[1-9]|actions[1-9][0-9]) action="--with-action --action-history ${f#actions}" ;;
            coords) coords=--coords ;;
            clock) clock=--clock ;;
            plusrandom) also="$also --also $RUN/rec-random" ;;
            plusexplore) also="$also --also $RUN/rec-explore" ;;
            realonly|worldend)
                [ -z "$real" ] || { echo "realonly and worldend exclude each other ('$1')" >&2; exit 2; }
                if [ "$f" = realonly ]; then real=--real-only; else real="--world-frames-for end"; fi ;;
            *) echo "unknown variant flag '$f' in '$1' (known: sample, action, actionsK, coords, clock, plusrandom, plusexplore, realonly, worldend)" >&2; exit 2 ;;
        esac
    done
    echo "--reward-estimate $reward --end-estimate $end $action $coords $clock $also $real"
}
for v in $VARIANTS; do variant_args "$v" > /dev/null; done          # all checked before the first is fitted
record_once() {   # NAME POLICY SEED: 100 episodes of 300 steps of the world's game into RUN/rec-NAME, once
    [ -f "$RUN/rec-$1/done" ] && return                    # a killed recording is made again, not reused
    local env size
    read -r env size < <(python -c "import json, sys; c = json.load(open(sys.argv[1])); print(c['env']['env'], c['env']['size'])" "$RUN/world/config.json")
    rm -rf "$RUN/rec-$1"
    worldmodel record --env "$env" --size "$size" --episodes 100 --steps 300 --policy "$2" --seed "$3" --out "$RUN/rec-$1"
    touch "$RUN/rec-$1/done"
}
for v in $VARIANTS; do
    if [[ $v == *-plusrandom* ]]; then record_once random random 5; fi
    if [[ $v == *-plusexplore* ]]; then record_once explore explore:random 6; fi
    out="$RUN/heads-$v"
    rm -rf "$out" && mkdir -p "$out"
    # the checkpoint only (not its work/ folder of training state, nor its eval/)
    dest=$(cd "$out" && pwd)
    find "$RUN/world" -mindepth 1 -maxdepth 1 ! -name work ! -name eval -exec cp -r {} "$dest/" \;
    # shellcheck disable=SC2046  # the arguments are words without spaces
    worldmodel train-heads "$out" --data "$RUN/world/work/data" $(variant_args "$v") --device cpu
    worldmodel agents eval "$out" --agents ladder --episodes 16 --seed 7 --device cpu --out "$out/agents-eval"
done
