"""Reward and episode-end heads: what an agent needs from a world besides frames.

A small conv net reads a latent frame next to the one before it (and, only if `use_action` is
on, the latest `action_history` actions: the one taken between the two frames and those before
it) and predicts the reward of that step and whether the episode ended there:

    (z_prev (b, c, h, w), z (b, c, h, w), actions (b, k, a) or (b, a) for k = 1)
        -> reward logits (b, 3), end logit (b,)

Why more than one action: a game may pay a step or more after the key that earned it. In
defend_the_center's recording (`scripts/reward_timing.py`) no kill is paid on the first step of
fire (0 of 2,530), 30% on the second and 15% on the step after letting go, and a held trigger
pays again mostly on its fifth step (11%; 2-3% on the others): whether a step can pay at all is
in the last few actions, which the frames show poorly.

The reward is classified as negative / zero / positive, and a class stands for the mean reward
of its training examples (`reward_values`): game rewards are sparse and come in a few fixed sizes.
How a step's reward is read from the classes (`reward_estimate`):
  "expected" (new heads): sum over classes of P(class) * value, with P from a plain (unweighted)
      cross-entropy, so calibrated. Summed over an episode it estimates the return even where the
      frames leave a kill uncertain: a muzzle flash that is a kill one time in five earns a fifth.
  "class" (heads fitted before): the value of the most likely class under a class-balanced loss.
      It finds rare events, but calls a step a kill wherever P(kill) passes about one in ten, so
      an agent that fires all the time collects a kill at every flash (defend_the_center: 39 in
      the world against 2 in the game).

The end head is fitted with the rare end steps weighted up (`end_weight`, so it finds them);
`predict` undoes that weight, so the P(end) it returns is calibrated. How a world reads it
(`end_estimate`):
  "threshold" (the default, and all heads fitted before): the episode ends where the weighted
      head says P >= 0.5, i.e. where the calibrated P passes 1 / (1 + end_weight). (Heads
      saved before `end_weight` existed load with 1.0: their P(end) is the weighted one, not
      calibrated, and their ends are decided as they always were.)
  "sample": every step ends the episode with the calibrated P, drawn from the world's noise
      stream. A threshold never fires where death cannot be seen coming (a player killed from
      behind: defend_the_center's idle player lived 288 world steps against 70 in the game);
      drawn, small per-step risks add up to an episode length.

The heads are separate from the transformer, so a world can get them after its dynamics are
trained (`worldmodel train-heads`); at play time they read the generated latents, so they are
fitted on the world's own latents of recorded episodes next to the real ones, both with
play-time context noise added.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .transformer import clock_embedding


@dataclass
class HeadsConfig:
    latent_channels: int = 4
    latent_size: int = 8
    action_dim: int = 25
    dim: int = 64
    # False (the default): read the frames only, so the action taken reaches the reward only
    # through the generated frame. With True an agent trained in the world can earn reward from
    # the head by its action alone wherever the frames ignore the action (PPO did, in `boxing`).
    # Heads saved before this field existed read the action (worldmodel.world.load_heads).
    use_action: bool = False
    # with use_action: how many of the latest actions are read (the step's own and the k-1 before
    # it, oldest first, zeros before the episode's start). Heads saved before it read 1.
    action_history: int = 1
    # True: the conv also reads where each latent pixel lies (x and y in [-1, 1], two more input
    # channels), so it can tell the middle of the view from its edges. The features are pooled
    # over the whole frame (mean and max), which otherwise keeps what is seen but not where: in a
    # shooter a shot pays only for what is under the crosshair. Heads saved before it: False.
    coords: bool = False
    # True: the heads also read the step's episode clock (steps since the episode began, as a
    # world with DynamicsConfig.clock keeps it; clocks past clock_max read as it). A death comes
    # of damage taken over the episode, which no pair of frames shows; the clock tells the end
    # head how long the episode has run. Heads saved before it: False.
    clock: bool = False
    clock_max: int = 300
    # mean reward of the negative and of the positive training steps (the zero class is 0)
    reward_values: list[float] = field(default_factory=lambda: [-1.0, 1.0])
    # "expected" or "class" (see the module docstring); heads saved before it existed are "class"
    reward_estimate: str = "expected"
    # the weight of the end steps in the end head's loss (heads saved before it existed load
    # with 1.0: the same ends as ever, but their P(end) is then the weighted, uncalibrated one)
    end_weight: float = 1.0
    # "threshold" or "sample" (see the module docstring)
    end_estimate: str = "threshold"

    def __post_init__(self):
        if self.reward_estimate not in ("expected", "class"):
            raise ValueError(f"reward_estimate must be 'expected' or 'class', got {self.reward_estimate!r}")
        if self.end_estimate not in ("threshold", "sample"):
            raise ValueError(f"end_estimate must be 'threshold' or 'sample', got {self.end_estimate!r}")
        if not (isinstance(self.action_history, int) and self.action_history >= 1):
            raise ValueError(f"action_history must be an int >= 1, got {self.action_history!r}")
        if not self.end_weight > 0:
            raise ValueError(f"end_weight must be > 0, got {self.end_weight!r}")
        if self.clock_max < 1:
            raise ValueError(f"clock_max must be >= 1, got {self.clock_max}")


class RewardEndHeads(nn.Module):
    def __init__(self, config: HeadsConfig):
        super().__init__()
        self.config = cfg = config
        c, d = cfg.latent_channels, cfg.dim
        extra = 2 if cfg.coords else 0
        self.conv = nn.Sequential(                                  # (b, 2c (+2), h, w) -> (b, d, h/2, w/2)
            nn.Conv2d(2 * c + extra, d, 3, padding=1), nn.SiLU(),
            nn.Conv2d(d, d, 3, stride=2, padding=1), nn.SiLU())
        self.action = nn.Linear(cfg.action_history * cfg.action_dim, d) if cfg.use_action else None
        self.clock = nn.Linear(d, d) if cfg.clock else None
        self.out = nn.Sequential(nn.Linear(2 * d, d), nn.SiLU(), nn.Linear(d, 4))

    def forward(self, z_prev, z, action, clock=None):
        """-> reward logits (b, 3) over (negative, zero, positive), end logit (b,). `action`: the
        latest actions (b, k, a), oldest first, or the step's own (b, a) when k = 1. `clock` (b,):
        the step's episode clock, for heads that read it (None for the others)."""
        x = torch.cat([z_prev, z], 1)                                   # (b, 2c, h, w)
        if self.config.coords:
            b, _, hh, ww = x.shape
            ys, xs = torch.meshgrid(torch.linspace(-1, 1, hh, device=x.device),
                                    torch.linspace(-1, 1, ww, device=x.device), indexing="ij")
            x = torch.cat([x, torch.stack([xs, ys]).to(x.dtype).expand(b, 2, hh, ww)], 1)   # (b, 2c+2, h, w)
        h = self.conv(x)
        feat = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], 1)   # (b, 2d): where and whether
        if self.action is not None:
            k = self.config.action_history
            if action.dim() == 2:
                action = action[:, None]                                # (b, a) -> (b, 1, a)
            if action.shape[1] != k:
                raise ValueError(f"these heads read the latest {k} actions, got {action.shape[1]}")
            feat = feat + torch.cat([self.action(action.flatten(1))] * 2, 1)   # (b, k*a) -> (b, d)
        if self.clock is not None:
            if clock is None:
                raise ValueError("these heads read the episode clock: pass each step's steps since its episode began")
            t = clock_embedding(torch.as_tensor(clock, device=feat.device), self.config.clock_max, self.config.dim)
            feat = feat + torch.cat([self.clock(t)] * 2, 1)                    # (b,) -> (b, d) -> (b, 2d)
        out = self.out(feat)
        return out[:, :3], out[:, 3]

    @torch.no_grad()
    def predict(self, z_prev, z, action, clock=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The reward of the step (b,) (as `reward_estimate` says) and the calibrated P(episode
        ended) (b,): the end weight of the loss taken back out (odds / end_weight)."""
        logits, end = self(z_prev.float(), z.float(), action.float(), clock)
        lo, hi = self.config.reward_values
        values = torch.tensor([lo, 0.0, hi], device=logits.device)
        p_end = torch.sigmoid(end - math.log(self.config.end_weight))
        if self.config.reward_estimate == "expected":
            return logits.softmax(-1) @ values, p_end
        return values[logits.argmax(-1)], p_end

    @property
    def actions_read(self) -> int:
        """How many of the latest actions these heads read: action_history, or 1 (the step's own,
        ignored) for heads that read the frames only."""
        return self.config.action_history if self.config.use_action else 1

    @property
    def end_threshold(self) -> float:
        """The calibrated P(end) at which the weighted head says 0.5: the "threshold" rule (the
        same decision as sigmoid(logit) >= 0.5, up to float rounding)."""
        return 1.0 / (1.0 + self.config.end_weight)

    def ends(self, p_end: torch.Tensor, uniform: torch.Tensor | None = None) -> torch.Tensor:
        """Whether each step (b,) ended its episode, from `predict`'s calibrated P(end) (b,), as
        `end_estimate` says: P >= 1 / (1 + end_weight) ("threshold"), or uniform < P ("sample",
        `uniform` (b,) drawn by the caller from its own generator)."""
        if self.config.end_estimate == "threshold":
            return p_end >= self.end_threshold
        if uniform is None:
            raise ValueError("heads with end_estimate='sample' need uniform draws to decide the ends")
        return uniform < p_end

    def events(self, rewards: torch.Tensor) -> torch.Tensor:
        """Predicted rewards (b,) as events -1 / 0 / +1: at least half a class's value (for "class"
        heads, exactly the non-zero predictions). What precision and recall count."""
        lo, hi = self.config.reward_values
        return (rewards >= hi / 2).long() - (rewards <= lo / 2).long()


def reward_classes(rewards: torch.Tensor) -> torch.Tensor:
    """0 negative, 1 zero, 2 positive."""
    return (rewards > 0).long() * 2 + (rewards == 0).long()


def heads_loss(heads: RewardEndHeads, z_prev, z, action, rewards, dones, class_weight, end_weight,
               reward_mask=None, clock=None):
    """Cross-entropy on the reward class (class weights from the caller: balanced, or all 1 for
    calibrated "expected" heads) + weighted BCE on the end flag. `reward_mask` (b,) bool: only
    those steps teach the reward head (all of them teach the end head); None: all."""
    logits, end = heads(z_prev, z, action, clock)
    target = reward_classes(rewards)
    if reward_mask is None:
        r = F.cross_entropy(logits, target, weight=class_weight)
    else:   # F.cross_entropy(weight=)'s weighted mean, over the masked steps only
        w = class_weight[target] * reward_mask.to(logits.dtype)                      # (b,)
        r = (F.cross_entropy(logits, target, reduction="none") * w).sum() / w.sum().clamp(min=1e-8)
    e = F.binary_cross_entropy_with_logits(end, dones.float(), pos_weight=end_weight)
    return r + e
