"""Agents in a world: `env.WorldEnv` (a World as a gymnasium.Env with the real game's actions,
reward and end from the world's heads), `policies` (scripted agents acting from pixels) and
`stats` (rank agreement between the world's and the real game's verdicts). The batched vector env
and the `worldmodel agents` harness are still to come (issue 7)."""
