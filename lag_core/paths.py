"""Where weight files are looked for, and the one-line message when they are not found."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import WeightsError

PACK_ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_DIR = PACK_ROOT / "weights"

HOW_TO_GET = {
    "vqgan": "download vqgan_imagenet_f16_16384 (last.ckpt + model.yaml) from the taming-transformers README",
    "clip": "pass an open_clip spec such as ViT-B-32-quickgelu:openai with --download, or a local weights file",
    "attention": "train one with `lag train` or the TrainAttention node",
    "audio_encoder": "train one with `lag train` (it writes the audio encoder beside the attention weights)",
}


def search_dirs(kind: str) -> list[Path]:
    """Folders searched for a bare file name of `kind`, in order."""
    dirs = []
    if os.environ.get("LAG_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["LAG_WEIGHTS_DIR"]) / kind)
    dirs += [WEIGHTS_DIR / kind, WEIGHTS_DIR, Path.home() / ".cache" / "lag" / kind]
    return dirs


def find_weights(name: str, kind: str) -> Path:
    """Resolve a path or a bare file name (with or without suffix) against the search folders."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        for candidate in ("last.ckpt", "model.safetensors", "model.ckpt"):
            if (path / candidate).is_file():
                return path / candidate
    if not path.is_absolute() and len(path.parts) <= 2:
        for folder in search_dirs(kind):
            for candidate in (folder / name, *(folder / f"{name}{s}" for s in (".safetensors", ".ckpt", ".pt"))):
                if candidate.is_file():
                    return candidate
            if (folder / name / "last.ckpt").is_file():
                return folder / name / "last.ckpt"
    searched = ", ".join(str(d) for d in search_dirs(kind))
    raise WeightsError(f"{kind} weights '{name}' not found (looked at the path and in {searched}); {HOW_TO_GET[kind]}")
