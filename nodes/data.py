"""LoadLAGEntry: one song of a LAG dataset (the bundled sample, a converted release, your own)."""

from __future__ import annotations

from pathlib import Path

from .common import CACHE, SAMPLE_PREFIX, comfy_available, file_signature, model_folders

BUNDLED = SAMPLE_PREFIX + "LAG sample (64 entries)"


def dataset_choices() -> list[str]:
    """The bundled sample, dataset folders (with entries.jsonl) and LAG .pkl files in the datasets folders."""
    out = [BUNDLED]
    if comfy_available():
        import folder_paths

        for name in folder_paths.get_filename_list("lag_datasets"):
            if name.endswith("entries.jsonl"):
                out.append(str(Path(name).parent))
            elif name.endswith(".pkl"):
                out.append(name)
    return out


def resolve_dataset(name: str) -> Path | None:
    from ..lag_core.errors import InputError
    from ..lag_core.safepath import resolve_inside, shown

    if name == BUNDLED:
        return None
    folders = model_folders("lag_datasets")
    where = "ComfyUI/models/lag/datasets/"
    if isinstance(name, str) and name.endswith(".pkl"):
        return resolve_inside(name, folders, "dataset", suffixes=(".pkl",), where=where)
    folder = resolve_inside(name, folders, "dataset", kind="dir", where=where)
    if not (folder / "entries.jsonl").is_file():
        raise InputError(f"dataset '{shown(name)}' is not a dataset folder (no entries.jsonl) in {where}; pick one from the list")
    return folder


def open_cached(name: str):
    from ..lag_core.data.dataset import SAMPLE_DIR, open_dataset

    path = resolve_dataset(name)
    sig = file_signature((path or SAMPLE_DIR) / "entries.jsonl") if (path is None or path.is_dir()) else file_signature(path)
    return CACHE.get(("dataset", sig), lambda: open_dataset(path))


class LAGLoadLAGEntry:
    DESCRIPTION = ("Picks one song from a LAG dataset by index (or by fileName): its lyric line, genre, the 128x431 "
                   "MFCC of its 10 s clip, and its audio when the dataset has it (otherwise 10 s of silence).")
    CATEGORY = "LAG/data"
    RETURN_TYPES = ("STRING", "STRING", "LAG_MFCC", "AUDIO", "STRING")
    RETURN_NAMES = ("lyrics", "genre", "mfcc", "audio", "file_name")
    OUTPUT_TOOLTIPS = ("The lyric line.", "metal, pop, rnb or rap.", "MFCC [1, 128, 431].",
                       "The entry's audio (AUDIO).", "The entry's fileName.")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "dataset": (dataset_choices(), {"tooltip": "The bundled sample, or a dataset in ComfyUI/models/lag/datasets."}),
                "index": ("INT", {"default": 0, "min": 0, "max": 100000, "tooltip": "Entry index (0-based)."}),
            },
            "optional": {
                "file_name": ("STRING", {"default": "", "tooltip": "If set, pick the entry with this fileName instead of the index."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, dataset, index, file_name=""):
        if dataset is None:  # linked from another node: checked when it runs
            return True
        try:
            ds = open_cached(dataset)
            key = str(file_name or "").strip() or index
            if key is not None:
                ds.index_of(key)
        except ValueError as exc:
            return str(exc)
        return True

    def load(self, dataset, index, file_name=""):
        import torch

        from ..lag_core.audio.io import load_audio

        ds = open_cached(dataset)
        i = ds.index_of(str(file_name or "").strip() or index)
        e = ds.entries[i]
        path = ds.audio_path(i)
        # LAG entries are 10 s clips: only those 10 s are read, whatever the file holds.
        audio = load_audio(path, seconds=10.0) if path else {"waveform": torch.zeros(1, 1, 220500), "sample_rate": 22050}
        return (e.lyrics, e.genre, ds.mfcc[i : i + 1].clone(), audio, e.file_name)
