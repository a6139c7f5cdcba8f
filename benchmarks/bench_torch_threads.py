"""The README's PPO example with torch's default threads and with one thread.

Torch starts a thread per core for each small matrix product; on a machine with few cores
they compete with the env stepping (the simulator) for the same cores. This times the first
``--steps`` environment steps of the README's example (PPO, ``MlpPolicy``, 4 envs of
``themis_env/Video-Bursty-v0`` with flat observations) in a fresh process per setting, so
the thread setting is the only difference, and prints one JSON line per run.

```bash
python benchmarks/bench_torch_threads.py --steps 8192 --repeats 2
```
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_RUN = """
import json, sys, time
import torch
if sys.argv[1] == "one":
    torch.set_num_threads(1)
import themis_env  # noqa: F401
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

venv = make_vec_env("themis_env/Video-Bursty-v0", n_envs=4, env_kwargs={"obs_mode": "flat"})
model = PPO("MlpPolicy", venv, seed=0, verbose=0)
start = time.perf_counter()
model.learn(total_timesteps=int(sys.argv[2]))
print(json.dumps({"threads": torch.get_num_threads(), "steps": int(sys.argv[2]),
                  "seconds": round(time.perf_counter() - start, 1)}))
"""


def main() -> None:
    """Run each setting ``--repeats`` times, alternating, and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for _ in range(args.repeats):
        for setting in ("default", "one"):
            done = subprocess.run(
                [sys.executable, "-c", _RUN, setting, str(args.steps)],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(json.dumps({"setting": setting, **row}), flush=True)


if __name__ == "__main__":
    main()
