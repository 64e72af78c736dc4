"""Scripted agents that act from pixels the same way in the real game and in a world.

Each agent sees only the frame (uint8 H x W x 3) and answers a native action index of the game
(`0 <= i < len(action_set)`), so one agent runs unchanged in `worldmodel.envs` and in
`agents.env.WorldEnv`. Seeded and deterministic. `make_agent(name, action_set, env)` builds one:

    random          uniform over the native actions
    idle            the no-op (no key, no mouse)
    fixed:I         always native action I
    cycle:I-J-...   native actions I, J, ... in turn, over and over (e.g. doom's cycle:6-6-9-9:
                    turn right twice, fire twice: a sweep that fires in a fixed rhythm)
    heuristic       a hand-written player of the game (boxing: chase and punch; doom: walk,
                    turn, fire at what stands out in the middle)
    aim             a better doom player: turn toward red enemies, fire when centred
    aim-left        aim mirrored in its search: with no enemy in sight it sweeps left, not right
    trained:DIR     a policy trained inside a world by `worldmodel agents train` (agents.train)
    explore:AGENT   AGENT with sticky random play mixed in at a rate drawn each episode (for
                    recordings: `worldmodel record --policy explore:aim`)
    mix:A+B+...     one of the agents A, B, ... each episode, drawn uniformly from the episode's
                    seed (recordings of several ways of playing: mix:explore:aim+explore:aim-left+random;
                    '+', since `--agents` lists agents with ','; the members are agents, so the
                    recordings' `sticky` is not one: explore:random is the nearest)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from worldmodel import Action
from worldmodel.checkpoint import load_checkpoint

from .networks import PixelPolicy


def native_index(action_set: list[Action], keys=(), turn: int = 0, fire: bool = False) -> int:
    """The native action with exactly these keys, mouse-turn direction and fire button; the
    closest one (most keys in common) when the game has no exact match."""
    want = (frozenset(keys), int(np.sign(turn)), bool(fire))
    best, best_score = 0, -1e9
    for i, a in enumerate(action_set):
        have = (a.keys, int(np.sign(a.mouse_dx)), "left" in a.buttons)
        if have == want:
            return i
        score = len(want[0] & have[0]) - len(want[0] ^ have[0]) - 2 * (want[1] != have[1]) - (want[2] != have[2])
        if score > best_score:
            best, best_score = i, score
    return best


class Agent:
    name = "agent"

    def __init__(self, action_set: list[Action]):
        self.action_set = action_set
        self.rng = np.random.default_rng(0)

    def reset(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, frame: np.ndarray) -> int:
        raise NotImplementedError


class RandomAgent(Agent):
    name = "random"

    def act(self, frame):
        return int(self.rng.integers(len(self.action_set)))


class FixedAgent(Agent):
    def __init__(self, action_set, index: int):
        super().__init__(action_set)
        if not 0 <= index < len(action_set):
            raise ValueError(f"fixed:{index}: the game has native actions 0..{len(action_set) - 1}")
        self.index, self.name = index, f"fixed:{index}"

    def act(self, frame):
        return self.index


class CycleAgent(Agent):
    """Plays a fixed sequence of native actions in turn, from its start at every reset: habits of
    play stripped of any looking (what a trained agent may have found pays in a world)."""

    def __init__(self, action_set, sequence: list[int]):
        super().__init__(action_set)
        if not sequence or not all(0 <= i < len(action_set) for i in sequence):
            raise ValueError(f"cycle: takes native action numbers 0..{len(action_set) - 1} joined by '-', "
                             f"got {sequence}")
        self.sequence, self.name, self.t = list(sequence), "cycle:" + "-".join(map(str, sequence)), 0

    def reset(self, seed: int = 0) -> None:
        super().reset(seed)
        self.t = 0

    def act(self, frame):
        self.t += 1
        return self.sequence[(self.t - 1) % len(self.sequence)]


class BoxingAgent(Agent):
    """Atari Boxing from pixels: find the white boxer (us) and the black one, line up vertically,
    close in to punching distance, punch when aligned."""
    name = "heuristic"
    # Thresholds as fractions of the frame: how far off vertically before moving up/down, how far
    # apart horizontally before closing in, and the box in which a punch is thrown.
    align_y, close_x, punch_y, punch_x = 1 / 32, 1 / 5, 1 / 16, 1 / 4
    pulse = False              # release the button every other frame (a held button punches once)

    def reset(self, seed: int = 0) -> None:
        super().reset(seed)
        self.t = 0

    def act(self, frame):
        self.t = getattr(self, "t", 0) + 1
        fire_now = not self.pulse or self.t % 2 == 0
        f = frame.astype(int)
        inner = np.zeros(f.shape[:2], bool)
        h, w = inner.shape
        inner[h // 10: h - h // 10, w // 10: w - w // 10] = True           # inside the ropes
        me = (f.min(-1) > 180) & inner
        them = (f.max(-1) < 50) & inner
        if not me.any() or not them.any():
            return native_index(self.action_set, fire=fire_now)
        (my, mx), (ty, tx) = np.argwhere(me).mean(0), np.argwhere(them).mean(0)
        dy, dx = ty - my, tx - mx
        keys = set()
        if abs(dy) > h * self.align_y:
            keys.add("down" if dy > 0 else "up")
        if abs(dx) > w * self.close_x:
            keys.add("right" if dx > 0 else "left")
        punch = abs(dy) <= h * self.punch_y and abs(dx) <= w * self.punch_x and fire_now
        return native_index(self.action_set, keys | ({"space"} if punch else set()))


class BoxingAimAgent(BoxingAgent):
    """A better Boxing player than `heuristic`: it closes in nearer, throws punches only when
    lined up more tightly, and releases the button between punches, so each aligned frame pair
    lands a new punch (the plain heuristic holds the button and punches once per approach)."""
    name = "aim"
    close_x, punch_y, punch_x = 1 / 9, 1 / 20, 1 / 5
    pulse = True


class DoomAgent(Agent):
    """First-person ViZDoom from pixels: fire at a strong red/bright blob in the middle column,
    turn toward the more contrasted half of the view, walk forward otherwise."""
    name = "heuristic"

    def act(self, frame):
        f = frame.astype(float)
        h, w = f.shape[:2]
        mid = f[h // 4: 3 * h // 4, 3 * w // 8: 5 * w // 8]
        redness = (mid[..., 0] - mid[..., 1:].mean(-1)).mean()
        if redness > 25 or mid.mean() > f.mean() + 40:
            return native_index(self.action_set, fire=True)
        gray = f.mean(-1)
        left, right = gray[:, : w // 2].std(), gray[:, w // 2:].std()
        if abs(left - right) > 6:
            return native_index(self.action_set, {"w"}, turn=-1 if left > right else 1)
        return native_index(self.action_set, {"w"})


def red_pixels(frames: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 -> (..., H, W) bool: the strongly red pixels `aim` looks for."""
    px = frames.astype(float)
    return (px[..., 0] - px[..., 1:].max(-1)) > 60


def red_mass(frame: np.ndarray) -> np.ndarray:
    """Strongly red pixels per column (W,) of the view's middle band: where `aim` looks for
    defend_the_center's demons (a target is in sight where some column holds 2 or more)."""
    h = frame.shape[0]
    return red_pixels(frame[h // 4: 7 * h // 8]).sum(0).astype(float)


def hit_flash(frame: np.ndarray) -> bool:
    """Whether the frame shows the flash of being hit: strongly red pixels in half the columns of
    the middle band or more (a demon covers a few columns; the flash tints them all alike)."""
    return bool((red_mass(frame) > 0).mean() >= 0.5)


class DoomAimAgent(Agent):
    """A better ViZDoom player than `heuristic` where the enemies are red (defend_the_center's
    demons): find the columns of the view's middle band that hold the most strongly red pixels,
    turn toward them, fire once they are at the centre; with no red in sight, sweep right. Two
    flashes read as a target straight ahead, so it fires at them: being hit (red across every
    column alike) and its own muzzle flash (red at the centre a step or two after a shot). `sweep=-1`
    (`aim-left`) searches to the left instead: the same player without `aim`'s one habit, so that
    a recording of both does not teach a world that turning right finds the demons."""
    name = "aim"

    def __init__(self, action_set, sweep: int = 1):
        super().__init__(action_set)
        if sweep not in (-1, 1):
            raise ValueError(f"sweep is 1 (right) or -1 (left), got {sweep}")
        self.sweep = sweep
        self.name = "aim" if sweep == 1 else "aim-left"

    def act(self, frame):
        w = frame.shape[1]
        mass = red_mass(frame)
        if mass.max() < 2:
            return native_index(self.action_set, turn=self.sweep)
        target = (np.arange(w) * mass).sum() / mass.sum()
        off = target - (w - 1) / 2
        if abs(off) <= w / 16:
            return native_index(self.action_set, fire=True)
        return native_index(self.action_set, turn=-1 if off < 0 else 1)


class ExploringAgent(Agent):
    """`explore:AGENT` plays AGENT with random play mixed in, for recordings that hold the range
    of skill agents will show in a world (a world learns kills from a recording only if someone
    in it aims). Each episode draws its exploration rate uniformly in [0, 1]: at each step, with
    that probability, it takes the sticky random stream's action (one that keeps its last draw
    with probability 0.8, as `worldmodel record --policy sticky`) instead of AGENT's."""

    def __init__(self, action_set, inner: Agent, stick: float = 0.8):
        super().__init__(action_set)
        self.inner, self.stick = inner, stick
        self.name = f"explore:{inner.name}"
        self.reset(0)

    def reset(self, seed: int = 0) -> None:
        super().reset(seed)
        self.inner.reset(seed)
        self.rate = float(self.rng.random())
        self.sticky = int(self.rng.integers(len(self.action_set)))

    def act(self, frame):
        planned = self.inner.act(frame)           # the inner agent sees every frame either way
        if self.rng.random() > self.stick:
            self.sticky = int(self.rng.integers(len(self.action_set)))
        return self.sticky if self.rng.random() < self.rate else planned


class MixAgent(Agent):
    """`mix:A+B+...` plays one of several agents each episode, drawn uniformly from the episode's
    seed at reset (so a recording replays the same way): a recording that holds more than one
    way of playing, where a world learns less of any one player's habits as the game's rules.
    The draw has a stream of its own, so the chosen agent plays exactly as it would alone."""

    def __init__(self, action_set, agents: list[Agent]):
        super().__init__(action_set)
        if len(agents) < 2:
            raise ValueError("mix: takes two or more agents joined by '+', e.g. mix:explore:aim+random")
        self.agents, self.name = agents, "mix:" + "+".join(a.name for a in agents)
        self.reset(0)

    def reset(self, seed: int = 0) -> None:
        super().reset(seed)
        pick = np.random.default_rng([seed, 0x6D6978])          # "mix": not the chosen agent's own stream
        self.current = self.agents[int(pick.integers(len(self.agents)))]
        self.current.reset(seed)

    @property
    def playing(self) -> str:
        """Who plays the episode since the last reset (a recording notes it per episode)."""
        return self.current.name

    def act(self, frame):
        return self.current.act(frame)


HEURISTICS = {"atari:Boxing": BoxingAgent, "vizdoom": DoomAgent}
AIMERS = {"atari:Boxing": BoxingAimAgent, "vizdoom": DoomAimAgent}


# The agents `worldmodel agents eval` ranks when none are named: for each game a ladder whose real
# returns differ (`worldmodel agents real --env ENV --json ...`: docs/agents/boxing_real.json, where
# random ties the heuristic at 0 and is left out, and docs/agents/defend_the_center_real.json).
LADDERS = {"atari:Boxing": ["fixed:8", "fixed:3", "idle", "explore:heuristic", "fixed:13", "heuristic", "aim"],
           "vizdoom": ["idle", "random", "heuristic", "fixed:9", "explore:aim", "aim"]}


def default_agents(env: str) -> list[str]:
    """The ladder of LADDERS for the game `env`; random and idle for a game without one."""
    for prefix, names in LADDERS.items():
        if env == prefix or env.startswith(prefix + ":"):
            return list(names)
    return ["random", "idle"]


def make_agent(name: str, action_set: list[Action], env: str) -> Agent:
    """An agent by name for a game with these native actions (env: the game's spec, e.g.
    "atari:Boxing", "vizdoom:E1M1")."""
    if name == "random":
        return RandomAgent(action_set)
    if name == "idle":
        agent = FixedAgent(action_set, native_index(action_set))
        agent.name = "idle"
        return agent
    if name.startswith("fixed:"):
        try:
            index = int(name.split(":", 1)[1])
        except ValueError:
            raise ValueError(f"fixed:I takes a native action number, got {name!r}") from None
        return FixedAgent(action_set, index)
    if name.startswith("cycle:"):
        try:
            sequence = [int(i) for i in name.split(":", 1)[1].split("-")]
        except ValueError:
            raise ValueError(f"cycle:I-J-... takes native action numbers joined by '-', got {name!r}") from None
        return CycleAgent(action_set, sequence)
    if name == "heuristic":
        for prefix, cls in HEURISTICS.items():
            if env == prefix or env.startswith(prefix + ":"):
                return cls(action_set)
        raise ValueError(f"no hand-written heuristic for {env}; there are: {', '.join(HEURISTICS)}")
    if name == "aim-left":
        if not (env == "vizdoom" or env.startswith("vizdoom:")):
            raise ValueError(f"aim-left is a ViZDoom player (it sweeps left looking for red demons); {env} is not ViZDoom")
        return DoomAimAgent(action_set, sweep=-1)
    if name == "aim":
        for prefix, cls in AIMERS.items():
            if env == prefix or env.startswith(prefix + ":"):
                return cls(action_set)
        raise ValueError(f"no aiming heuristic for {env}; there is one for: {', '.join(AIMERS)}")
    if name.startswith("trained:"):
        return TrainedAgent(action_set, name.split(":", 1)[1])
    if name.startswith("explore:"):
        return ExploringAgent(action_set, make_agent(name.split(":", 1)[1], action_set, env))
    if name.startswith("mix:"):
        parts = [p for p in name.split(":", 1)[1].split("+") if p]
        if any("mix:" in p for p in parts):
            raise ValueError(f"mix: does not nest, got {name!r}")
        return MixAgent(action_set, [make_agent(p, action_set, env) for p in parts])
    raise ValueError(f"unknown agent {name!r}; known: random, idle, fixed:I, cycle:I-J-..., heuristic, aim, aim-left, "
                     "trained:DIR, explore:AGENT, mix:A+B+...")


class TrainedAgent(Agent):
    """A policy trained by `worldmodel agents train`, acting greedily (argmax of its logits)."""

    def __init__(self, action_set, path):
        super().__init__(action_set)
        path = Path(path)
        config, tensors = load_checkpoint(path)
        if config.get("kind") != "agent":
            raise ValueError(f"{path} is not a trained agent (config.json kind {config.get('kind')!r})")
        if config["actions"] != len(action_set):
            raise ValueError(f"{path} acts in a game with {config['actions']} actions, this one has {len(action_set)}")
        self.net = PixelPolicy(config["size"], config["actions"])
        self.net.load_state_dict({k: v.float() for k, v in tensors.items()})
        self.net.eval()
        self.name = f"trained:{path}"
        self.size = config["size"]

    @torch.no_grad()
    def act(self, frame):
        if frame.shape[:2] != (self.size, self.size):
            raise ValueError(f"this agent was trained on {self.size}px frames, got {frame.shape[:2]}")
        frame = np.array(frame)                    # a writable copy: frames may be read-only views
        return int(self.net(torch.from_numpy(frame)[None]).argmax())


def recording_policy(name: str, env):
    """What `worldmodel record` / `worldmodel train --policy` play the game `env` (an Env) with: a
    name of worldmodel.data.POLICIES as it is, any other name an agent of this module for the
    game's native actions (e.g. explore:aim)."""
    from worldmodel.data import POLICIES
    if name in POLICIES:
        return name
    try:
        return make_agent(name, env.action_set, env.name)
    except ValueError as e:
        raise ValueError(f"unknown policy {name!r}: choose from {', '.join(POLICIES)} or an agent ({e})") from None
