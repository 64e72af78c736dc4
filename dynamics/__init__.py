"""Action-conditioned latent diffusion over frames: network (transformer.py), noise
parameterisation + loss (diffusion.py), samplers (sampler.py), KV cache (cache.py), the distillation
target (distill.py), reward/end heads (heads.py), presets (presets.py). Model code only: the loops
that train it live in worldmodel/train/."""
from .cache import KVCache
from .diffusion import Denoiser, DiffusionConfig, diffusion_loss
from .presets import PRESETS, DynamicsTrainConfig
from .sampler import SAMPLERS, euler_sample, guided, heun_sample, karras_sigmas
from .transformer import DynamicsConfig, DynamicsTransformer

__all__ = ["KVCache", "Denoiser", "DiffusionConfig", "diffusion_loss", "PRESETS", "DynamicsTrainConfig",
           "SAMPLERS", "euler_sample", "guided", "heun_sample", "karras_sigmas", "DynamicsConfig",
           "DynamicsTransformer"]
