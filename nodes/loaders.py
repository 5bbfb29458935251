"""Loader nodes: VQGAN, CLIP, and audio files."""

from __future__ import annotations

from pathlib import Path

from ..lag_core.options import AUDIO_SUFFIXES, PRESETS
from .common import (
    CACHE,
    FOLDERS,
    PRESET_PREFIX,
    SAMPLE_PREFIX,
    device,
    file_signature,
    folder_list,
    full_path,
    input_directory,
    log,
    model_folders,
)


def _ref(kind: str, folder: str, name: str):
    """A combo choice -> the factory's reference: one of the presets (never a path behind the
    prefix), or a file from the node's folders."""
    from ..lag_core.models import ModelRef, preset_ref
    from ..lag_core.options import check_choice
    from ..lag_core.safepath import shown

    if isinstance(name, str) and name.startswith(PRESET_PREFIX):
        return preset_ref(kind, check_choice("preset", shown(name[len(PRESET_PREFIX):]), PRESETS))
    return ModelRef(kind, name, "file", full_path(folder, name))


def open_clip_ref(spec: str):
    """An open_clip spec from a prompt: `ARCH:TAG` (a pretrained tag, or `random`), or `ARCH:FILE`
    with FILE inside the CLIP folders the node lists. Never a path elsewhere on the disk."""
    import re

    from ..lag_core.errors import InputError
    from ..lag_core.models import ModelRef
    from ..lag_core.safepath import resolve_inside, shown

    arch, sep, rest = str(spec).partition(":")
    arch, rest = arch.strip(), rest.strip()
    if not (sep and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,100}", arch) and rest):
        raise InputError(f"open_clip_spec '{shown(spec)}' is not ARCH:TAG or ARCH:FILE (e.g. ViT-B-32-quickgelu:openai); "
                         "pick presets and files in clip_name instead")
    looks_like_file = not re.fullmatch(r"[A-Za-z0-9_\-]{1,100}", rest)
    if not looks_like_file:
        return ModelRef("clip", spec, "open_clip", None, spec=f"{arch}:{rest}")
    path = resolve_inside(rest, model_folders("lag_clip"), "open_clip_spec file", suffixes=FOLDERS["lag_clip"][1],
                          where="ComfyUI/models/lag/clip/ or the pack's weights/clip/")
    return ModelRef("clip", spec, "open_clip", path, spec=f"{arch}:{path}")


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
        spec = str(open_clip_spec or "").strip()
        return open_clip_ref(spec) if spec else _ref("clip", "lag_clip", clip_name)

    @classmethod
    def VALIDATE_INPUTS(cls, clip_name, open_clip_spec=""):
        try:
            if clip_name is not None and open_clip_spec is not None:
                cls._clip_ref(clip_name, open_clip_spec)
        except ValueError as exc:
            return str(exc)
        return True

    @classmethod
    def IS_CHANGED(cls, clip_name, open_clip_spec="", allow_download=False):
        return cls._clip_ref(clip_name, open_clip_spec).signature

    def load(self, clip_name, open_clip_spec="", allow_download=False):
        from ..lag_core.models import make_clip

        dev = device()
        ref = self._clip_ref(clip_name, open_clip_spec)
        return (CACHE.get((ref.signature, str(dev)), lambda: make_clip(ref, dev, allow_download=allow_download)),)


MAX_AUDIO_SECONDS = 30 * 60  # what Load Audio decodes at most: a whole song, never a 6-hour recording


def bundled_audio_dirs() -> list[Path]:
    """The bundled sample's clips and the bundled song for Song to Video."""
    from ..lag_core.data.dataset import SAMPLE_DIR
    from ..lag_core.data.demo_song import SONG_DIR

    return [SAMPLE_DIR / "audio", SONG_DIR]


def audio_choices() -> list[str]:
    files = []
    inp = input_directory()
    if inp is not None and inp.is_dir():
        files = sorted(str(p.relative_to(inp)) for p in inp.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    sample = sorted(SAMPLE_PREFIX + p.name for folder in bundled_audio_dirs() for p in folder.glob("*.ogg"))
    return files + sample


def resolve_audio(name: str) -> Path:
    from ..lag_core.safepath import resolve_inside

    if isinstance(name, str) and name.startswith(SAMPLE_PREFIX):
        return resolve_inside(name[len(SAMPLE_PREFIX):], bundled_audio_dirs(), "bundled audio clip",
                              suffixes=AUDIO_SUFFIXES, where="the pack's bundled clips")
    inp = input_directory()
    return resolve_inside(name, [inp] if inp is not None else [], "audio file", suffixes=AUDIO_SUFFIXES,
                          where="ComfyUI's input folder")


class LAGLoadAudio:
    DESCRIPTION = ("Decodes an audio file (WAV, FLAC, OGG, MP3) with soundfile into ComfyUI's AUDIO, so it works with "
                   "ComfyUI's own audio nodes too. Lists ComfyUI's input folder and the bundled sample clips. Reads at "
                   f"most the first {MAX_AUDIO_SECONDS // 60} minutes of a file (a 6-hour file is never decoded whole).")
    CATEGORY = "LAG/audio"
    RETURN_TYPES = ("AUDIO",)
    RETURN_NAMES = ("audio",)
    OUTPUT_TOOLTIPS = (f"{{'waveform': [1, C, T], 'sample_rate': int}}: the file's first {MAX_AUDIO_SECONDS // 60} minutes at most.",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"audio": (audio_choices(), {"tooltip": "An audio file from ComfyUI's input folder or a bundled sample clip."})}}

    @classmethod
    def IS_CHANGED(cls, audio):
        return file_signature(resolve_audio(audio))

    @classmethod
    def VALIDATE_INPUTS(cls, audio):
        if audio is None:  # linked from another node: checked when it runs
            return True
        try:
            resolve_audio(audio)
        except ValueError as exc:
            return str(exc)
        return True

    def load(self, audio):
        from ..lag_core.audio.io import audio_info, load_audio

        path = resolve_audio(audio)
        frames, sr, _ = audio_info(path)
        if frames > MAX_AUDIO_SECONDS * sr:
            log.warning("Load Audio (LAG): '%s' is %.0f min long; using its first %d minutes", path.name, frames / sr / 60,
                        MAX_AUDIO_SECONDS // 60)
        return (load_audio(path, seconds=MAX_AUDIO_SECONDS),)
