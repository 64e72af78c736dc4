"""The dynamics network a config names (DynamicsConfig.arch): the transformer or the U-Net."""
from __future__ import annotations

import torch.nn as nn

from .transformer import DynamicsConfig, DynamicsTransformer
from .unet import DynamicsUNet


def build_network(config: DynamicsConfig) -> nn.Module:
    return DynamicsUNet(config) if config.arch == "unet" else DynamicsTransformer(config)
