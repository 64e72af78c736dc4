"""Action-conditioned latent diffusion over frames: network (transformer.py, or unet.py; networks.py picks), noise
parameterisation + loss (diffusion.py), samplers (sampler.py), KV cache (cache.py), the distillation
target (distill.py), reward/end heads (heads.py), presets (presets.py). Model code only: the loops
that train it live in worldmodel/train/."""
from .cache import FrameCache, KVCache
from .diffusion import Denoiser, DiffusionConfig, diffusion_loss
from .networks import build_network, network_actions
from .presets import PRESETS, DynamicsTrainConfig
from .sampler import SAMPLERS, euler_sample, guided, heun_sample, karras_sigmas, warm_start_input
from .transformer import DynamicsConfig, DynamicsTransformer
from .unet import DynamicsUNet

__all__ = ["FrameCache", "KVCache", "Denoiser", "DiffusionConfig", "build_network", "network_actions", "diffusion_loss", "PRESETS", "DynamicsTrainConfig",
           "SAMPLERS", "euler_sample", "guided", "heun_sample", "karras_sigmas", "warm_start_input", "DynamicsConfig",
           "DynamicsTransformer", "DynamicsUNet"]
