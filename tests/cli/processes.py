"""Running `compressor` as a separate process, as users and torchrun do."""
import os
import subprocess
import sys
import time

import torch


def compressor_process(*args, **popen):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "compressor.cli", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def run_compressor(*args, timeout=300):
    process = compressor_process(*args)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def wait_for(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.02)


def final_weights(folder):
    return torch.load(folder / "checkpoint.pt", weights_only=True)["model_state"]
