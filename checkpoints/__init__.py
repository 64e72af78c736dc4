"""Shipped worlds: each subfolder is a checkpoint (config.json + *.safetensors + MODEL_CARD.md +
start.png). This file only lets the folder be found after `pip install`."""
DEFAULT = "procedural"
