"""The trainers, one per component, all thin users of one resumable loop (loop.py):

    autoencoder.py  train_autoencoder   fit PCA, or train the conv autoencoder
    dynamics.py     train_dynamics      the diffusion dynamics on latent clips (a run is a world)
    distill.py      distill_world       a few-step student of a world
    heads.py        train_heads         reward / episode-end heads of a world

They sit above the model code (autoencoder/, dynamics/), which never imports them.
"""
