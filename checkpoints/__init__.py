"""Shipped worlds: each subfolder is a checkpoint (config.json + *.safetensors + MODEL_CARD.md +
start.png). This file only lets the folder be found after `pip install`."""
# `worldmodel play` opens the first-person ViZDoom world (issue 16 keeps it the default): by
# `worldmodel eval` (docs/eval/doom) the furthest above copy-last at 4 and 16 frames, the only one
# whose turns follow the keys, and still a blur after about 70 frames of random play.
DEFAULT = "doom"
