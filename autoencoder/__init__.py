"""Video autoencoders: frame <-> latent frame. Presets live in PRESETS (`tiny` for tests/CPU)."""
from .models import (Autoencoder, AutoencoderConfig, ConvAutoencoder, PCAAutoencoder, build_autoencoder,
                     frames_to_tensor, tensor_to_frames)
from .presets import PRESETS, AETrainConfig

__all__ = ["Autoencoder", "AutoencoderConfig", "ConvAutoencoder", "PCAAutoencoder", "build_autoencoder",
           "frames_to_tensor", "tensor_to_frames", "PRESETS", "AETrainConfig"]
