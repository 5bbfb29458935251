import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _threads():
    # Keep runs comparable (and deterministic) on the 2-core CI machines.
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def tiny_models():
    from lag_core.models import make_preset

    return make_preset("tiny")


@pytest.fixture()
def lag_cli():
    """Run the real `lag` console script in a subprocess."""
    import subprocess

    exe = Path(sys.executable).parent / "lag"

    def run(*args, check=False, timeout=300, env=None):
        proc = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(f"lag {' '.join(map(str, args))} failed:\n{proc.stderr}")
        return proc

    return run
