#!/usr/bin/env bash
# Issue 19's benchmark in one command: does a world rank agents as its game does, and does an agent
# trained only in the world win in the game?
#   1. `worldmodel train` a world of the game on a recording with kills in it (--policy explore:aim:
#      the aiming heuristic with random play mixed in at a rate drawn each episode);
#   2. PPO only inside that world (batched WorldVectorEnv), keeping snapshots as rungs of skill;
#   3. `agents eval` of the game's ladder and the PPO rungs, in the world and in the game, on fresh
#      seeds (7000+: the recording used 0-199, the world's own eval 100003+);
#   4. the trained agent scored in the game against random and the heuristic (`agents train` does it);
#   5. WorldVectorEnv at batch 16 timed against the real game.
# Usage: scripts/agents_benchmark.sh [RUN] (env: GAME, HOURS, PPO_STEPS, SNAPSHOT, EPISODES)
# Resumable: rerun after a kill; `worldmodel train` and `agents train` resume, the rest is minutes.
set -euo pipefail
RUN=${1:-runs/defend_the_center}
GAME=${GAME:-vizdoom:defend_the_center}
HOURS=${HOURS:-2}
PPO_STEPS=${PPO_STEPS:-150000}
SNAPSHOT=${SNAPSHOT:-50000}
EPISODES=${EPISODES:-16}
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-10000000000} MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-10000000000}
mkdir -p "$RUN"
worldmodel train --env "$GAME" --hours "$HOURS" --policy explore:aim --out "$RUN/world" --device cpu
worldmodel agents train --world "$RUN/world" --steps "$PPO_STEPS" --snapshot-every "$SNAPSHOT" --num-envs 16 \
    --eval-episodes "$EPISODES" --seed 7 --device cpu --out "$RUN/ppo"
RUNGS=$( (ls -d "$RUN"/ppo/stage-* 2>/dev/null || true) | sort -V | sed 's/^/trained:/' | paste -sd, -)
worldmodel agents eval "$RUN/world" --agents "ladder${RUNGS:+,$RUNGS},trained:$RUN/ppo" --episodes "$EPISODES" \
    --seed 7 --device cpu --out "$RUN/agents-eval"
worldmodel agents bench "$RUN/world" --num-envs 16 --device cpu --json "$RUN/bench.json"
