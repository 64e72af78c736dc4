"""The pixel policy network of trained agents: a small CNN on one frame, then action logits.
Trained by agents/train.py (through stable-baselines3), played by policies.TrainedAgent."""
from __future__ import annotations

import torch
import torch.nn as nn


class PixelEncoder(nn.Module):
    """Frames (b, 3, H, W) in [0, 1] -> features (b, 512). The Nature DQN encoder with smaller
    strides, so that it also works on the 32 px test worlds."""

    def __init__(self, size: int):
        super().__init__()
        self.cnn = nn.Sequential(nn.Conv2d(3, 32, 4, 2), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
                                 nn.Conv2d(64, 64, 3, 1), nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            n = self.cnn(torch.zeros(1, 3, size, size)).shape[1]
        self.linear = nn.Sequential(nn.Linear(n, 512), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.cnn(x))


class PixelPolicy(nn.Module):
    """The trained actor: encoder -> action logits. Frames (b, H, W, 3) uint8."""

    def __init__(self, size: int, actions: int):
        super().__init__()
        self.encoder = PixelEncoder(size)
        self.action_net = nn.Linear(512, actions)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.permute(0, 3, 1, 2).float() / 255.0                         # (b, 3, H, W) in [0, 1]
        return self.action_net(self.encoder(x))                                # (b, actions)
