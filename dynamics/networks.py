"""The dynamics network a config names (DynamicsConfig.arch): the transformer or the U-Net."""
from __future__ import annotations

import torch
import torch.nn as nn

from .transformer import DynamicsConfig, DynamicsTransformer
from .unet import DynamicsUNet


def build_network(config: DynamicsConfig) -> nn.Module:
    return DynamicsUNet(config) if config.arch == "unet" else DynamicsTransformer(config)


def network_actions(config: DynamicsConfig, actions: torch.Tensor, clock) -> torch.Tensor:
    """What the network takes as `actions`: the action vectors (..., action_dim), followed, for a
    network with the episode clock (DynamicsConfig.clock), by each frame's clock (...,): steps
    since its episode began. Without the clock, `actions` unchanged (clock may be None)."""
    if not config.clock:
        return actions
    if clock is None:
        raise ValueError("this network reads the episode clock: pass each frame's steps since its episode began")
    clock = torch.as_tensor(clock, dtype=actions.dtype, device=actions.device)
    if clock.dim() == 0:
        clock = clock.expand(actions.shape[:-1])
    if clock.shape != actions.shape[:-1]:
        raise ValueError(f"the clock must have one value per action vector, {tuple(actions.shape[:-1])}; "
                         f"got {tuple(clock.shape)}")
    return torch.cat([actions, clock[..., None]], -1)
