"""`worldmodel agents train`: train a policy only inside a world, then play the real game with it.

The RL algorithm is stable-baselines3's PPO (Schulman et al. 2017) with a small CNN policy, acting
on the world's frames through `WorldVectorEnv` (N worlds in one batched call,
same-step autoreset, as SB3 expects). Rewards and episode ends come from the world's heads; the
real game is never touched during training.

Files in --out:
    train_state/          policy + optimizer (Adam moments) + step count, saved every few minutes
                          as a checkpoint (config.json + safetensors); a killed run resumes from it
    config.json           the trained agent: what `trained:DIR` needs to rebuild it
    model.safetensors     its actor's weights (fp32; the network is agents.networks.PixelPolicy)
    train.jsonl           mean world episode return per update
    stage-STEPS/          with snapshot_every: the agent as it was after STEPS steps (each a
                          `trained:DIR` agent of its own: a ladder of skill for `agents eval`)
The policy acts on one frame (no frame stack), like every agent in agents.policies.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from worldmodel.checkpoint import load_checkpoint, save_checkpoint

from .networks import PixelEncoder, PixelPolicy


def _features_extractor():
    """PixelEncoder as an SB3 features extractor (SB3 hands it (b, 3, H, W) frames scaled to [0, 1])."""
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class PixelFeatures(BaseFeaturesExtractor):
        def __init__(self, observation_space):
            super().__init__(observation_space, 512)
            self.encoder = PixelEncoder(observation_space.shape[-1])

        def forward(self, x):
            return self.encoder(x)
    return PixelFeatures


def export_policy(sb3_policy, size: int, actions: int) -> PixelPolicy:
    """The actor of SB3's policy (its features extractor + action head) as a PixelPolicy."""
    net = PixelPolicy(size, actions)
    sd = sb3_policy.state_dict()
    pre = "pi_features_extractor." if any(k.startswith("pi_features_extractor.") for k in sd) else "features_extractor."
    net.load_state_dict({k: sd[k] if k.startswith("action_net.") else sd[pre + k] for k in net.state_dict()})
    return net


SHARED = ("pi_features_extractor.", "vf_features_extractor.")


def save_train_state(path: Path, policy, num_timesteps: int) -> None:
    """Policy weights and the optimizer's per-parameter state as a checkpoint (no pickle)."""
    opt = policy.optimizer.state_dict()
    # pi_/vf_features_extractor are the shared features_extractor under other names: stored once
    tensors = {f"policy.{k}": v.clone() for k, v in policy.state_dict().items() if not k.startswith(SHARED)}
    for i, st in opt["state"].items():
        for k, v in st.items():
            tensors[f"optimizer.{i}.{k}"] = torch.as_tensor(v)
    save_checkpoint(path, {"kind": "ppo-train-state", "num_timesteps": int(num_timesteps)}, tensors)


def load_train_state(path: Path, policy) -> int:
    config, tensors = load_checkpoint(path)
    missing, unexpected = policy.load_state_dict(
        {k[len("policy."):]: v for k, v in tensors.items() if k.startswith("policy.")}, strict=False)
    if unexpected or any(not k.startswith(SHARED) for k in missing):
        raise ValueError(f"{path} does not fit this policy (missing {missing}, unexpected {unexpected})")
    opt = policy.optimizer.state_dict()
    state: dict = {}
    for k, v in tensors.items():
        if k.startswith("optimizer."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    policy.optimizer.load_state_dict({"state": state, "param_groups": opt["param_groups"]})
    return int(config["num_timesteps"])


def _sb3_vec_env(vec):
    """WorldVectorEnv (same-step autoreset) as an SB3 VecEnv."""
    from stable_baselines3.common.vec_env import VecEnv

    class SB3WorldVecEnv(VecEnv):
        def __init__(self):
            super().__init__(vec.num_envs, vec.single_observation_space, vec.single_action_space)
            self._actions = None

        def reset(self):
            obs, _ = vec.reset(seed=self._seeds[0] if self._seeds and self._seeds[0] is not None else None)
            self._reset_seeds()
            return obs

        def step_async(self, actions):
            self._actions = np.asarray(actions).reshape(-1)

        def step_wait(self):
            obs, rew, term, trunc, info = vec.step(self._actions)
            dones = term | trunc
            infos = [{} for _ in range(vec.num_envs)]
            for i in np.flatnonzero(dones):
                infos[i] = {"terminal_observation": info["final_obs"][i], "TimeLimit.truncated": bool(trunc[i] and not term[i])}
            return obs, rew.astype(np.float32), dones, infos

        def close(self):
            pass

        def get_attr(self, attr_name, indices=None):
            return [getattr(vec, attr_name)] * len(self._get_indices(indices))

        def set_attr(self, attr_name, value, indices=None):
            setattr(vec, attr_name, value)

        def env_method(self, method_name, *args, indices=None, **kwargs):
            raise NotImplementedError("the world vector env has no per-env methods")

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * len(self._get_indices(indices))

    return SB3WorldVecEnv()


def train_in_world(world_path, out, steps: int = 50_000, num_envs: int = 16, episode_steps: int = 300,
                   seed: int = 0, device=None, save_minutes: float = 3.0, progress: bool = True,
                   snapshot_every: int = 0) -> Path:
    """PPO in the world for `steps` agent steps (resuming from out/train_state/); writes the agent,
    and with `snapshot_every` a copy of it every that many steps into out/stage-STEPS/."""
    try:
        from stable_baselines3 import PPO
        from stable_baselines3.common.callbacks import BaseCallback
    except ImportError:
        raise RuntimeError("`worldmodel agents train` needs stable-baselines3: pip install 'worldmodel-playground[agents]'") from None
    from gymnasium.vector import AutoresetMode

    from worldmodel import World

    from .env import WorldVectorEnv
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    world = World.from_pretrained(world_path, device=device)
    if world.heads is None:
        raise ValueError(f"{world.path} has no reward/episode-end heads: there is nothing to learn from in it "
                         "(`worldmodel train-heads` fits them)")
    vec = WorldVectorEnv(world, num_envs, max_episode_steps=episode_steps, autoreset_mode=AutoresetMode.SAME_STEP)
    env = _sb3_vec_env(vec)
    env.seed(seed)
    torch.manual_seed(seed)
    model = PPO("CnnPolicy", env, policy_kwargs={"features_extractor_class": _features_extractor(), "net_arch": []},
                n_steps=128, batch_size=256, n_epochs=4, learning_rate=2.5e-4, ent_coef=0.01,
                clip_range=0.1, gamma=0.99, seed=seed, device="cpu" if device is None else device, verbose=0)
    state_dir = out / "train_state"
    if (state_dir / "config.json").is_file():
        model.num_timesteps = load_train_state(state_dir, model.policy)
        print(f"resuming from {state_dir} at {model.num_timesteps} steps")
    log = (out / "train.jsonl").open("a")

    def save():
        save_train_state(state_dir, model.policy, model.num_timesteps)

    size, n = world.resolution[0], len(world.action_set)

    def write_agent(folder: Path) -> None:
        net = export_policy(model.policy, size, n)
        config = {"kind": "agent", "algorithm": "PPO (stable-baselines3), CnnPolicy actor, greedy",
                  "world": str(world.path), "env": world.config.get("env", {}).get("env"), "size": size,
                  "actions": n, "steps": int(model.num_timesteps), "num_envs": num_envs,
                  "episode_steps": episode_steps, "seed": seed}
        save_checkpoint(folder, config, net.state_dict())

    class Progress(BaseCallback):
        def _on_training_start(self):
            from tqdm.auto import tqdm
            self.bar = tqdm(total=steps, initial=model.num_timesteps, desc="PPO in the world", unit="step",
                            disable=not progress)
            self.returns, self.current, self.saved = [], np.zeros(num_envs), time.time()

        def _on_step(self):
            self.current += self.locals["rewards"]
            for i in np.flatnonzero(self.locals["dones"]):
                self.returns.append(float(self.current[i]))
                self.current[i] = 0.0
            self.bar.update(num_envs)
            if time.time() - self.saved > save_minutes * 60:
                save()
                self.saved = time.time()
            return True

        def _on_rollout_end(self):
            rec = {"steps": int(self.model.num_timesteps), "episodes": len(self.returns),
                   "world_return": float(np.mean(self.returns)) if self.returns else None}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            self.returns = []
            done_steps = int(self.model.num_timesteps)
            crossed = done_steps // snapshot_every > (done_steps - self.model.n_steps * num_envs) // snapshot_every \
                if snapshot_every else False
            if crossed and done_steps < steps:            # the last one is the agent itself (OUT)
                write_agent(out / f"stage-{done_steps}")

        def _on_training_end(self):
            self.bar.close()

    left = steps - model.num_timesteps
    if left > 0:
        model.learn(total_timesteps=left, callback=Progress(), reset_num_timesteps=False)
        save()
    log.close()
    write_agent(out)
    return out
