"""Loader nodes: VQGAN, CLIP, and audio files."""

from __future__ import annotations

from pathlib import Path

from ..lag_core.options import PRESETS
from .common import (
    AUDIO_EXTS,
    CACHE,
    PRESET_PREFIX,
    SAMPLE_PREFIX,
    device,
    file_signature,
    folder_list,
    full_path,
    input_directory,
)


def _ref(kind: str, folder: str, name: str):
    """A combo choice -> the factory's reference: a preset, or a file from the node's folders."""
    from ..lag_core.models import ModelRef, resolve

    if name.startswith(PRESET_PREFIX):
        return resolve(kind, name[len(PRESET_PREFIX):])
    return ModelRef(kind, name, "file", full_path(folder, name))


class LAGVQGANLoader:
    DESCRIPTION = ("Loads a VQGAN: a taming-transformers checkpoint (e.g. vqgan_imagenet_f16_16384/last.ckpt with "
                   "model.yaml beside it) or a .safetensors from `lag convert-weights`, from ComfyUI/models/lag/vqgan "
                   "or the pack's weights/vqgan. '[preset] toyworld' is the embedded toy-world autoencoder; '[preset] tiny' a random tiny model for tests.")
    CATEGORY = "LAG/loaders"
    RETURN_TYPES = ("LAG_VQGAN",)
    RETURN_NAMES = ("vqgan",)
    OUTPUT_TOOLTIPS = ("The VQGAN (frozen), on ComfyUI's device.",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        choices = [PRESET_PREFIX + p for p in PRESETS] + folder_list("lag_vqgan")
        return {"required": {"vqgan_name": (choices, {"tooltip": "VQGAN weights file, or an embedded preset."})}}

    @classmethod
    def IS_CHANGED(cls, vqgan_name):
        return _ref("vqgan", "lag_vqgan", vqgan_name).signature

    def load(self, vqgan_name):
        from ..lag_core.models import make_vqgan

        dev = device()
        ref = _ref("vqgan", "lag_vqgan", vqgan_name)
        return (CACHE.get((ref.signature, str(dev)), lambda: make_vqgan(ref, dev)),)


class LAGCLIPLoader:
    DESCRIPTION = ("Loads a CLIP through open_clip: a file from ComfyUI/models/lag/clip (a `lag convert-weights "
                   "--kind clip` file or an open_clip folder), or an open_clip spec such as "
                   "'ViT-B-32-quickgelu:openai' (taken from the local cache; set allow_download to fetch it).")
    CATEGORY = "LAG/loaders"
    RETURN_TYPES = ("LAG_CLIP",)
    RETURN_NAMES = ("clip",)
    OUTPUT_TOOLTIPS = ("The CLIP model (frozen), with its tokenizer.",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        choices = [PRESET_PREFIX + p for p in PRESETS] + folder_list("lag_clip")
        return {
            "required": {"clip_name": (choices, {"tooltip": "CLIP weights file, or an embedded preset."})},
            "optional": {
                "open_clip_spec": ("STRING", {"default": "", "tooltip": "If set, used instead of clip_name: ARCH:TAG or ARCH:/path/file."}),
                "allow_download": ("BOOLEAN", {"default": False, "tooltip": "Allow downloading ARCH:TAG weights (needs internet)."}),
            },
        }

    @staticmethod
    def _clip_ref(clip_name, open_clip_spec):
        from ..lag_core.models import resolve

        if open_clip_spec.strip():
            return resolve("clip", open_clip_spec.strip())
        return _ref("clip", "lag_clip", clip_name)

    @classmethod
    def IS_CHANGED(cls, clip_name, open_clip_spec="", allow_download=False):
        return cls._clip_ref(clip_name, open_clip_spec).signature

    def load(self, clip_name, open_clip_spec="", allow_download=False):
        from ..lag_core.models import make_clip

        dev = device()
        ref = self._clip_ref(clip_name, open_clip_spec)
        return (CACHE.get((ref.signature, str(dev)), lambda: make_clip(ref, dev, allow_download=allow_download)),)


def bundled_audio_dirs() -> list[Path]:
    """The bundled sample's clips and the bundled song for Song to Video."""
    from ..lag_core.data.dataset import SAMPLE_DIR
    from ..lag_core.data.demo_song import SONG_DIR

    return [SAMPLE_DIR / "audio", SONG_DIR]


def audio_choices() -> list[str]:
    files = []
    inp = input_directory()
    if inp is not None and inp.is_dir():
        files = sorted(str(p.relative_to(inp)) for p in inp.rglob("*") if p.suffix.lower() in AUDIO_EXTS)
    sample = sorted(SAMPLE_PREFIX + p.name for folder in bundled_audio_dirs() for p in folder.glob("*.ogg"))
    return files + sample


def resolve_audio(name: str) -> Path:
    from ..lag_core.errors import InputError

    if name.startswith(SAMPLE_PREFIX):
        bare = name[len(SAMPLE_PREFIX):]
        found = [folder / bare for folder in bundled_audio_dirs() if (folder / bare).is_file()]
        if not found:
            raise InputError(f"'{name}' is not a bundled clip; pick one from the list and refresh")
        return found[0]
    inp = input_directory()
    path = (inp / name) if inp is not None else Path(name)
    if not path.is_file():
        raise InputError(f"audio file '{name}' is not in ComfyUI's input folder; put it there and refresh")
    return path


class LAGLoadAudio:
    DESCRIPTION = ("Decodes an audio file (WAV, FLAC, OGG, MP3) with soundfile into ComfyUI's AUDIO, so it works with "
                   "ComfyUI's own audio nodes too. Lists ComfyUI's input folder and the bundled sample clips.")
    CATEGORY = "LAG/audio"
    RETURN_TYPES = ("AUDIO",)
    RETURN_NAMES = ("audio",)
    OUTPUT_TOOLTIPS = ("{'waveform': [1, C, T], 'sample_rate': int}",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"audio": (audio_choices(), {"tooltip": "An audio file from ComfyUI's input folder or a bundled sample clip."})}}

    @classmethod
    def IS_CHANGED(cls, audio):
        return file_signature(resolve_audio(audio))

    @classmethod
    def VALIDATE_INPUTS(cls, audio):
        try:
            resolve_audio(audio)
        except ValueError as exc:
            return str(exc)
        return True

    def load(self, audio):
        from ..lag_core.audio.io import load_audio

        return (load_audio(resolve_audio(audio)),)
