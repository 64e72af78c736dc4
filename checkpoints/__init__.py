"""Shipped worlds: each subfolder is a checkpoint (config.json + *.safetensors + MODEL_CARD.md +
start.png). This file only lets the folder be found after `pip install`."""
# `worldmodel play` opens the best real-game world by `worldmodel eval` (docs/eval/): doom is the
# only one not flagged as collapsed and the furthest above copy-last at 16 frames.
DEFAULT = "doom"
