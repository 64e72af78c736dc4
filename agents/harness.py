"""`worldmodel agents eval`: does a world rank agents the way its real game does?

Episode e of the evaluation starts from the real game reset with seed + e. Each agent plays that
episode for `steps` steps (or until it ends) twice: in the real game, and in the world started from
the same first frame (the world's noise seeded with seed + e too). The return is the sum of the
rewards: the game's in the real game, the reward head's in the world. Every world episode of every
agent runs in one batch (one `World.step` per time step, `batch` worlds at a time), so a world
evaluation costs about as much as the longest episode.

What comes out: per agent the mean return in each and its bootstrap 95% interval, and how far the
world's order of the agents agrees with the real game's (Spearman's rho, Kendall's tau-b, and the
order agreement over the pairs of agents whose real intervals do not overlap; see agents.stats).
Beside them, what the world's heads make of each real episode (`World.read_episode`: its frames,
actions and length, no world frames): where that ranks the agents well and the world does not,
the gap lies in the world's frames and episode lengths, not in the heads.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from worldmodel import World
from worldmodel.envs import make_env

from .policies import default_agents, make_agent
from .stats import bootstrap_ci, kendall, pairwise_order_agreement, spearman


def episode_seed(seed: int, episode: int) -> int:
    return int(seed) * 1000 + int(episode)


def real_returns(env, agents: list[str], episodes: int, steps: int, seed: int, progress: bool = True,
                 lengths: dict | None = None, read=None, read_out: dict | None = None, rewards: dict | None = None):
    """{agent: [return per episode]} and the start frames [episode] of the real game. `lengths`, if
    given, receives {agent: [steps per episode]}; `rewards`, {agent: [(steps,) reward of each step,
    0 after the episode ended]}. `read`, if given, a function (frames (T, H, W, 3),
    actions [T-1 Actions]) -> float, is called on every episode and `read_out` receives {agent:
    [its value per episode]} (what a world's heads make of the real episode)."""
    out, starts = {}, []
    bar = tqdm(total=len(agents) * episodes, desc=f"real game ({env.name})", disable=not progress, unit="episode")
    for e in range(episodes):
        starts.append(env.reset(episode_seed(seed, e)))
    for name in agents:
        out[name] = []
        for e in range(episodes):
            agent = make_agent(name, env.action_set, env.name)
            agent.reset(episode_seed(seed, e))
            frame, total, taken = env.reset(episode_seed(seed, e)), 0.0, 0
            frames, acts, paid = [frame], [], np.zeros(steps)
            for t in range(steps):
                a = agent.act(frame)
                frame, reward, done = env.step_native(a)
                total, taken, paid[t] = total + reward, taken + 1, reward
                if read is not None:
                    frames.append(frame)
                    acts.append(env.action_set[a])
                if done:
                    break
            out[name].append(total)
            if read is not None:
                read_out.setdefault(name, []).append(float(read(np.stack(frames), acts)))
            if lengths is not None:
                lengths.setdefault(name, []).append(taken)
            if rewards is not None:
                rewards.setdefault(name, []).append(paid)
            bar.update()
    bar.close()
    return out, starts


def real_ladder(env_spec: str, agents: list[str], episodes: int, steps: int, seed: int = 0, size: int = 64,
                progress: bool = True) -> dict:
    """The real game alone: per agent its mean return over `episodes` episodes of at most `steps`
    steps and a bootstrap 95% interval (whether a ladder of agents differs before any world is
    trained on the game). "ladder" in `agents` stands for the game's ladder."""
    agents = [n for a in agents for n in (default_agents(env_spec) if a == "ladder" else [a])]
    env = make_env(env_spec, size=size)
    try:
        for name in agents:                                   # unknown names fail before any episode
            make_agent(name, env.action_set, env.name)
        real, _ = real_returns(env, agents, episodes, steps, seed=seed, progress=progress)
    finally:
        env.close()
    return {"env": env_spec, "episodes": episodes, "steps": steps, "seed": seed, "size": size,
            "agents": {n: {"real_return": float(np.mean(v)), "real_ci": list(bootstrap_ci(v, seed=seed + i)),
                           "returns": v} for i, (n, v) in enumerate(real.items())}}


def score_in_real_game(agent_dir, episodes: int, steps: int, seed: int, baselines=("random", "heuristic"),
                       progress: bool = True) -> dict:
    """Play a trained agent (and `baselines`) in the real game its world was learned from, write
    AGENT_DIR/real.json and return it: per agent the mean return and its bootstrap 95% interval."""
    from worldmodel.checkpoint import load_config
    agent_dir = Path(agent_dir)
    agent = load_config(agent_dir)                         # the trained agent knows its game and frame size
    names = [*baselines, f"trained:{agent_dir}"]
    env = make_env(agent["env"], size=agent["size"])
    try:
        real, _ = real_returns(env, names, episodes, steps, seed=seed, progress=progress)
    finally:
        env.close()
    res = {"env": agent["env"], "episodes": episodes, "steps": steps, "seed": seed,
           "agents": {n: {"real_return": float(np.mean(v)), "real_ci": list(bootstrap_ci(v)), "returns": v}
                      for n, v in real.items()}}
    (agent_dir / "real.json").write_text(json.dumps(res, indent=1) + "\n")
    return res


def _need_heads(world: World) -> None:
    if world.heads is None:
        raise ValueError(f"{world.path} has no reward/episode-end heads, so it gives no returns; "
                         "fit them with `worldmodel train-heads` (they need a recording with rewards)")


def world_returns(world: World, agents: list[str], starts: list[np.ndarray], steps: int, seed: int,
                  batch: int = 64, progress: bool = True, lengths: dict | None = None,
                  rewards: dict | None = None) -> dict:
    """{agent: [return per episode]} in the world, every (agent, episode) pair a row of a batch.
    `lengths`, if given, receives {agent: [steps per episode]} (up to the step the heads end it);
    `rewards`, {agent: [(steps,) reward of each step, 0 after the heads ended the episode]}."""
    _need_heads(world)
    env_name = world.config.get("env", {}).get("env", "")
    jobs = [(name, e) for name in agents for e in range(len(starts))]
    totals, taken, paid = np.zeros(len(jobs)), np.zeros(len(jobs), int), np.zeros((len(jobs), steps))
    bar = tqdm(total=len(jobs) * steps, desc="world", disable=not progress, unit="step")
    for lo in range(0, len(jobs), batch):
        chunk = jobs[lo: lo + batch]
        players = []
        for name, e in chunk:
            agent = make_agent(name, world.action_set, env_name)
            agent.reset(episode_seed(seed, e))
            players.append(agent)
        frames = world.reset([starts[e] for _, e in chunk], seed=[episode_seed(seed, e) for _, e in chunk])
        alive = np.ones(len(chunk), bool)
        idle = world.action_set[0]
        for t in range(steps):
            acts = [world.action_set[p.act(f)] if a else idle for p, f, a in zip(players, frames, alive)]
            frames = world.step(acts)
            paid[lo: lo + len(chunk), t] = np.where(alive, world.reward, 0.0)
            totals[lo: lo + len(chunk)] += paid[lo: lo + len(chunk), t]
            taken[lo: lo + len(chunk)] += alive.astype(int)
            alive &= ~np.asarray(world.done, bool)
            bar.update(len(chunk))
            if not alive.any():
                bar.update(len(chunk) * (steps - 1 - t))
                break
    bar.close()
    out = {name: [] for name in agents}
    for (name, _), total, n, r in zip(jobs, totals, taken, paid):
        out[name].append(float(total))
        if lengths is not None:
            lengths.setdefault(name, []).append(int(n))
        if rewards is not None:
            rewards.setdefault(name, []).append(r)
    return out


def heads_scores(config: dict) -> dict:
    """Precision/recall of a world's reward and episode-end heads as `train-heads` measured them,
    on held-out real latents ("real") and on the world's own generated frames ("generated"): a
    head that fires on real frames but never on the world's measures nothing. Empty where not
    measured."""
    metrics = (config.get("heads") or {}).get("metrics") or {}
    pick = lambda m: {k: m[k] for k in ("reward_nonzero", "episode_end", "reward_sum") if isinstance(m.get(k), dict)}
    return {"real": pick(metrics), "generated": pick(metrics.get("generated") or {})}


def evaluate_agents(checkpoint, agents: list[str], episodes: int = 16, steps: int = 300, seed: int = 0,
                    device=None, batch: int = 64, progress: bool = True) -> dict:
    """The agents.json dict of `worldmodel agents eval` (see the module docstring). `agents`: names
    of agents.policies; "ladder" stands for the game's ladder (agents.policies.LADDERS)."""
    if episodes < 2:
        raise ValueError("episodes must be >= 2 (the intervals need more than one return)")
    if steps < 1:
        raise ValueError("steps must be >= 1")
    t0 = time.perf_counter()
    world = World.from_pretrained(checkpoint, device=device)
    spec = world.config.get("env", {}).get("env")
    if not spec:
        raise ValueError(f"{checkpoint} does not say which game it was learned from (config env.env)")
    agents = [n for a in agents for n in (default_agents(spec) if a == "ladder" else [a])]
    if len(set(agents)) != len(agents) or not agents:
        raise ValueError(f"give distinct agents, got {agents}")
    for name in agents:                                   # refuse unknown names before any work
        make_agent(name, world.action_set, spec)
    _need_heads(world)                                    # refuse before the real-game runs, too
    env = make_env(spec, size=world.resolution[0])
    try:
        # the heads' reading of each real episode: what they add up to on the game's own frames
        real, starts = real_returns(env, agents, episodes, steps, seed, progress, lengths=(real_len := {}),
                                    read=lambda f, a: world.read_episode(f, a)[0].sum(), read_out=(heads_real := {}))
    finally:
        env.close()
    sim = world_returns(world, agents, starts, steps, seed, batch, progress, lengths=(sim_len := {}))
    result = {"checkpoint": str(checkpoint), "env": spec, "seed": int(seed), "episodes": int(episodes),
              "steps": int(steps), "world_settings": world.settings(), "heads": heads_scores(world.config),
              "agents": {}}
    for i, name in enumerate(agents):
        result["agents"][name] = {
            "real_return": float(np.mean(real[name])), "real_ci": list(bootstrap_ci(real[name], seed=seed + i)),
            "world_return": float(np.mean(sim[name])), "world_ci": list(bootstrap_ci(sim[name], seed=seed + i)),
            "real_returns": real[name], "world_returns": sim[name],
            # how long episodes last: a world whose end head never fires plays every episode out
            "real_steps": float(np.mean(real_len[name])), "world_steps": float(np.mean(sim_len[name])),
            # the heads on the game's own frames (its episode lengths): their share of the gap
            "heads_on_real_return": float(np.mean(heads_real[name])),
            "heads_on_real_ci": list(bootstrap_ci(heads_real[name], seed=seed + i)),
            "heads_on_real_returns": heads_real[name]}
    r = [result["agents"][n]["real_return"] for n in agents]
    w = [result["agents"][n]["world_return"] for n in agents]
    result["spearman"] = spearman(r, w)
    result["kendall"] = kendall(r, w)
    result["pairwise_order_agreement"] = pairwise_order_agreement(r, [result["agents"][n]["real_ci"] for n in agents], w)
    result["heads_on_real_spearman"] = spearman(r, [result["agents"][n]["heads_on_real_return"] for n in agents])
    result["seconds"] = time.perf_counter() - t0
    return result


def _num(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"


def _pr(score: dict | None) -> str:
    """'precision / recall (predicted, actual)' of one head's events, or n/a."""
    if not score:
        return "n/a"
    return (f"{_num(score.get('precision'))} / {_num(score.get('recall'))} "
            f"({score.get('predicted', '?')} predicted, {score.get('actual', '?')} actual)")


def _heads_table(heads: dict | None) -> str:
    if not heads or not (heads.get("real") or heads.get("generated")):
        return "The heads' precision and recall were not measured (heads fitted before they were kept)."
    def summed(score: dict | None) -> str:
        return f"{score['predicted']:.1f} / {score['actual']:.1f}" if score else "n/a"

    rows = [f"| {label} | {_pr(heads.get(k, {}).get('reward_nonzero'))} | {_pr(heads.get(k, {}).get('episode_end'))} "
            f"| {summed(heads.get(k, {}).get('reward_sum'))} |"
            for k, label in (("real", "held-out real latents"), ("generated", "the world's generated frames"))]
    return ("The world's returns come from its heads. Their precision / recall, as `train-heads` measured "
            "them on held-out episodes, and the rewards they add up to against the game's:\n\n"
            "| judged on | reward events (>= half a class's value) | episode end | rewards summed (heads / game) |\n"
            "|---|---|---|---|\n" + "\n".join(rows))


def _steps(a: dict) -> str:
    """'game / world' mean episode steps of one agent, or n/a (results from before they were kept)."""
    if a.get("real_steps") is None or a.get("world_steps") is None:
        return "n/a"
    return f"{a['real_steps']:.0f} / {a['world_steps']:.0f}"


def _on_real(a: dict) -> str:
    """The heads' return on the game's own episodes [interval], or n/a (results from before)."""
    if a.get("heads_on_real_return") is None:
        return "n/a"
    lo, hi = a["heads_on_real_ci"]
    return f"{a['heads_on_real_return']:.2f} [{lo:.2f}, {hi:.2f}]"


def write_agents_report(result: dict, out: Path) -> Path:
    """DIR/agents.json, DIR/agents.png (world return against real return, 95% intervals) and
    DIR/report.md."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clean = json.loads(json.dumps(result, default=float).replace("NaN", "null"))
    (out / "agents.json").write_text(json.dumps(clean, indent=1) + "\n")
    import matplotlib
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for name, a in result["agents"].items():
        xe = [[a["real_return"] - a["real_ci"][0]], [a["real_ci"][1] - a["real_return"]]]
        ye = [[a["world_return"] - a["world_ci"][0]], [a["world_ci"][1] - a["world_return"]]]
        ax.errorbar(a["real_return"], a["world_return"], xerr=xe, yerr=ye, fmt="o", capsize=3, label=name)
    ax.set_xlabel("return in the real game")
    ax.set_ylabel("return in the world")
    ax.set_title(f"{result['env']}: {result['episodes']} episodes x {result['steps']} steps")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "agents.png", dpi=110)
    plt.close(fig)
    rows = "\n".join(f"| {n} | {a['real_return']:.2f} [{a['real_ci'][0]:.2f}, {a['real_ci'][1]:.2f}] | "
                     f"{a['world_return']:.2f} [{a['world_ci'][0]:.2f}, {a['world_ci'][1]:.2f}] | "
                     f"{_steps(a)} | {_on_real(a)} |" for n, a in result["agents"].items())
    md = f"""# Agents in {result['env']}: the world against the real game

Checkpoint `{result['checkpoint']}`, sampling {result['world_settings']}.
{result['episodes']} episodes per agent (real-game seeds {episode_seed(result['seed'], 0)}..{episode_seed(result['seed'], result['episodes'] - 1)}), {result['steps']} steps each, the same start frames in both.
Returns: mean over episodes [bootstrap 95% interval].

| agent | real game | world | mean steps (game / world) | heads on the game's frames |
|---|---|---|---|---|
{rows}

- Spearman's rho (agents' mean returns, world vs real): **{_num(result['spearman'])}**
- The heads alone, reading the game's own episodes (its frames, actions and lengths; no world
  frames): Spearman {_num(result.get('heads_on_real_spearman'))}. Where this is high and the world's
  is not, the gap is in what the world draws and how long its episodes last, not in the heads.
- Kendall's tau-b: {_num(result['kendall'])}
- Order agreement over the pairs the real game tells apart: {_num(result['pairwise_order_agreement'])}
- {result['seconds']:.0f} s

{_heads_table(result.get('heads'))}

![world vs real returns](agents.png)
"""
    (out / "report.md").write_text(md)
    return out / "report.md"


def bench_vector_env(checkpoint, num_envs: int = 8, steps: int = 20, repeats: int = 5, seed: int = 0,
                     device=None, progress: bool = True, real: bool = True) -> dict:
    """World steps per second per world: one `WorldEnv` against a `WorldVectorEnv` of num_envs,
    timed in alternation in one run (repeats x steps each), medians and their ratio; with `real`,
    the real game the world learned is timed in the same alternation (its own steps per second,
    random actions, reset when an episode ends), which is what training in the world saves or
    costs against training in the game."""
    from .env import WorldEnv, WorldVectorEnv
    world = World.from_pretrained(checkpoint, device=device)
    single = WorldEnv(world, max_episode_steps=10**9)
    vector = WorldVectorEnv(World.from_pretrained(checkpoint, device=device), num_envs, max_episode_steps=10**9)
    rng = np.random.default_rng(seed)
    n = single.action_space.n
    single.reset(seed=seed)
    vector.reset(seed=seed)
    single.step(0)                                        # warm up both
    vector.step(np.zeros(num_envs, np.int64))
    spec = world.config.get("env", {}).get("env")
    game = make_env(spec, size=world.resolution[0]) if real and spec else None
    if game is not None:
        game.reset(seed)
    one, many, in_game = [], [], []
    for _ in tqdm(range(repeats), desc=f"1 world vs {num_envs} batched", disable=not progress):
        if game is not None:
            t = time.perf_counter()
            for a in rng.integers(len(game.action_set), size=steps * num_envs):
                if game.step_native(int(a))[2]:
                    game.reset(seed)
            in_game.append(steps * num_envs / (time.perf_counter() - t))
        t = time.perf_counter()
        for a in rng.integers(n, size=steps):
            single.step(int(a))
        one.append(steps / (time.perf_counter() - t))
        t = time.perf_counter()
        for a in rng.integers(n, size=(steps, num_envs)):
            vector.step(a)
        many.append(steps * num_envs / (time.perf_counter() - t))
    s1, sn = float(np.median(one)), float(np.median(many))
    import torch
    return {"checkpoint": str(checkpoint), "device": str(world.device), "num_envs": num_envs, "steps": steps,
            "repeats": repeats, "settings": world.settings(), "threads": torch.get_num_threads(),
            "single_steps_per_s": s1, "vector_steps_per_s_per_world": sn, "speedup_per_world": sn / s1,
            "single_runs": one, "vector_runs": many,
            **({"real_game": spec, "real_steps_per_s": float(np.median(in_game)), "real_runs": in_game,
                "world_vector_vs_real": sn * num_envs / float(np.median(in_game))} if game is not None else {})}
