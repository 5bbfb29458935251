"""The model factory: every name a user can give for a VQGAN, a CLIP or lyric attention weights
resolves here, in one order for every kind.

1. A preset (`options.PRESETS`): `toyworld`, the embedded default (trained files shipped in
   `weights/toyworld/` and `weights/attention/`), or `tiny` (random tiny models for tests).
2. A named architecture, `model_configs/<kind>/lag-<name>-<kind>.json` (VQGAN and CLIP), built
   untrained from a seed: `tiny`, `toyworld-arch`. JSON, as open_clip keeps its `model_configs/`.
3. An existing file or folder.
4. A bare file name, with or without its suffix, in `$LAG_WEIGHTS_DIR/<kind>/`, `weights/<kind>/`
   and `~/.cache/lag/<kind>/`, in that order.
5. CLIP only: an open_clip spec, `ARCH:TAG` (pretrained, from the local cache; downloaded only
   when allowed), `ARCH:FILE` or `ARCH:random`.

`resolve(kind, name)` answers where a name leads without loading anything (its `signature`
changes when the file behind it does: the key of loaded-model caches); `make_vqgan`,
`make_clip`, `make_attention` and `make_preset` load. Importing this module is cheap (no torch).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, WeightsError
from .options import DEFAULT_PRESET, MODEL_KINDS, PRESETS, check_choice

PACK_ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_DIR = PACK_ROOT / "weights"
CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
SUFFIXES = {
    "vqgan": (".safetensors", ".ckpt", ".pt", ".pth"),
    "clip": (".safetensors", ".bin", ".pt", ".pth"),
    "attention": (".safetensors",),
}
VQGAN_FOLDER_FILES = ("last.ckpt", "model.safetensors", "model.ckpt")  # a taming model folder
HOW_TO_GET = {
    "vqgan": "download vqgan_imagenet_f16_16384 (last.ckpt + model.yaml) from the taming-transformers README",
    "clip": "pass an open_clip spec such as ViT-B-32-quickgelu:openai with --download, or a local weights file",
    "attention": "train one with `lag train` or the Train Lyric Attention node",
}


@dataclass(frozen=True)
class ModelRef:
    """Where a name leads. `source`: `file` (a file or folder at `path`), `config` (a named
    architecture, JSON at `path`, random weights from a seed) or `open_clip` (an `ARCH:...` spec;
    `path` is its local file for `ARCH:FILE`)."""

    kind: str
    name: str
    source: str
    path: Path | None = None
    spec: str = ""  # open_clip only

    @property
    def name_of_config(self) -> str:
        """For `source == "config"`: the architecture's name (`tiny` for `lag-tiny-clip.json`)."""
        return self.path.name[len("lag-"):-len(f"-{self.kind}.json")]

    @property
    def signature(self) -> str:
        """Changes when what would load changes (path, size and mtime of every file behind it)."""
        if self.path is None:
            return f"{self.kind}:{self.source}:{self.spec or self.name}"
        files = sorted(p for p in self.path.iterdir() if p.is_file()) if self.path.is_dir() else [self.path]
        stats = ";".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
        return f"{self.kind}:{self.source}:{self.spec}:{stats}"


def search_dirs(kind: str) -> list[Path]:
    """Folders searched for a bare file name of `kind`, in order."""
    dirs = [Path(os.environ["LAG_WEIGHTS_DIR"]) / kind] if os.environ.get("LAG_WEIGHTS_DIR") else []
    return [*dirs, WEIGHTS_DIR / kind, Path.home() / ".cache" / "lag" / kind]


def config_names(kind: str) -> list[str]:
    """The named architectures of `kind` (`model_configs/<kind>/lag-<name>-<kind>.json`)."""
    return sorted(ModelRef(kind, "", "config", p).name_of_config for p in (CONFIG_DIR / kind).glob(f"lag-*-{kind}.json"))


def _config_path(kind: str, name: str) -> Path | None:
    path = CONFIG_DIR / kind / f"lag-{name}-{kind}.json"
    return path if kind != "attention" and path.is_file() else None


def named_config(kind: str, name: str) -> dict:
    """The JSON of a named architecture."""
    path = _config_path(kind, name)
    if path is None:
        raise InputError(f"no named {kind} architecture '{name}'; known: {', '.join(config_names(kind))}")
    return json.loads(path.read_text())


def preset_ref(kind: str, preset: str, attention_kind: str = "mha") -> ModelRef:
    """What a preset is made of, for one kind."""
    check_choice("preset", preset, PRESETS)
    if kind == "attention":
        path = WEIGHTS_DIR / "attention" / f"{preset}_lyric_attention_{attention_kind}.safetensors"
        if not path.is_file():
            raise WeightsError(f"the {preset} preset's attention weights {path} are missing; restore weights/attention/ from the "
                               f"repository or retrain them with `lag train --preset {preset} --attention {attention_kind} --out {path}`")
        return ModelRef(kind, preset, "file", path)
    if preset == "tiny":
        return ModelRef(kind, preset, "config", _config_path(kind, "tiny"))
    path = WEIGHTS_DIR / "toyworld" / f"{kind}.safetensors"
    if not path.is_file():
        raise WeightsError(f"the toyworld preset needs {path}, which is missing; restore weights/toyworld/ from the "
                           "repository or rebuild it with `make toyworld`")
    return ModelRef(kind, preset, "file", path)


def _find_file(kind: str, name: str) -> Path | None:
    """Steps 3 and 4 of the lookup: an existing path, or a bare name in the search folders."""
    path = Path(name).expanduser()
    candidates = [path]
    if not path.is_absolute() and len(path.parts) <= 2:
        for folder in search_dirs(kind):
            candidates += [folder / name, *(folder / f"{name}{s}" for s in SUFFIXES[kind])]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
        if candidate.is_dir():
            if kind == "clip":  # open_clip's local-dir layout
                return candidate
            for inner in VQGAN_FOLDER_FILES if kind == "vqgan" else ():
                if (candidate / inner).is_file():
                    return candidate / inner
    return None


def resolve(kind: str, name: str | os.PathLike, attention_kind: str = "mha") -> ModelRef:
    """Where `name` leads for `kind` (see the module docstring for the order); loads nothing."""
    check_choice("model kind", kind, MODEL_KINDS)
    name = str(name or "").strip()
    if not name:
        raise InputError(f"empty {kind} name; expected a preset ({', '.join(PRESETS)}), a file or a name in weights/{kind}/")
    if name in PRESETS:
        return preset_ref(kind, name, attention_kind)
    config = _config_path(kind, name)
    if config is not None:
        return ModelRef(kind, name, "config", config)
    found = _find_file(kind, name)
    if found is not None:
        return ModelRef(kind, name, "file", found)
    arch, sep, rest = name.partition(":")
    if kind == "clip" and sep and arch and rest:
        local = Path(rest).expanduser()
        return ModelRef(kind, name, "open_clip", local if local.is_file() else None, spec=name)
    searched = ", ".join(str(d) for d in search_dirs(kind))
    named = f", a named architecture ({', '.join(config_names(kind))})" if kind != "attention" else ""
    raise WeightsError(f"{kind} '{name}' is not a preset ({', '.join(PRESETS)}){named}, an existing file, nor a file in "
                       f"{searched}; {HOW_TO_GET[kind]}")


def make_vqgan(name: str | os.PathLike | ModelRef, device="cpu", seed: int = 0):
    """A frozen VQGAN from a name (or a resolved reference)."""
    ref = name if isinstance(name, ModelRef) else resolve("vqgan", name)
    if ref.source == "config":
        from .vqgan import VQGANConfig, random_vqgan

        return random_vqgan(VQGANConfig.from_dict(named_config("vqgan", ref.name_of_config)), seed=seed, device=device)
    from .vqgan import load_vqgan

    return load_vqgan(ref.path, device=device)


def make_clip(name: str | os.PathLike | ModelRef, device="cpu", *, allow_download: bool = False, cache_dir: str | None = None,
              seed: int = 0):
    """A frozen CLIP from a name, a preset or an open_clip spec (or a resolved reference)."""
    ref = name if isinstance(name, ModelRef) else resolve("clip", name)
    from .clip_models import load_clip, random_clip

    if ref.source == "config":
        return random_clip(ref.path.stem, named_config("clip", ref.name_of_config), seed=seed, device=device)
    source = ref.spec if ref.source == "open_clip" else str(ref.path)
    return load_clip(source, device=device, allow_download=allow_download, cache_dir=cache_dir, seed=seed)


def make_attention(name: str | os.PathLike | ModelRef, clip=None, device="cpu", attention_kind: str = "mha"):
    """Lyric attention weights from a name or a preset (`attention_kind` picks the preset's file);
    with `clip`, checked to be trained for it."""
    ref = name if isinstance(name, ModelRef) else resolve("attention", name, attention_kind)
    from .attention.checkpoint import load_attention

    return load_attention(ref.path, clip, device=device)


def make_preset(preset: str = DEFAULT_PRESET, device="cpu"):
    """A preset's VQGAN and CLIP."""
    return make_vqgan(preset_ref("vqgan", preset), device), make_clip(preset_ref("clip", preset), device)
