"""Glue shared by the nodes: ComfyUI folders, the model cache, devices, progress.

ComfyUI modules (`folder_paths`, `comfy.*`) are imported inside functions: this file imports
cheaply and the pack can be imported outside ComfyUI (tests, docs).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

from ..lag_core.models import WEIGHTS_DIR as WEIGHTS

PRESET_PREFIX = "[preset] "
SAMPLE_PREFIX = "[sample] "
log = logging.getLogger("lag")

# ComfyUI model folder name -> (subfolder under models/lag and weights/, allowed extensions)
FOLDERS = {
    "lag_vqgan": ("vqgan", {".ckpt", ".safetensors", ".pt", ".pth"}),
    "lag_clip": ("clip", {".safetensors", ".bin", ".pt", ".pth"}),
    "lag_attention": ("attention", {".safetensors"}),
    "lag_datasets": ("datasets", {".pkl", ".jsonl"}),
}


def comfy_available() -> bool:
    try:
        import folder_paths  # noqa: F401
    except ImportError:
        return False
    return True


def register_model_folders() -> None:
    """`models/lag/<kind>` and the pack's `weights/<kind>`, with narrowed extensions."""
    import folder_paths

    for name, (sub, exts) in FOLDERS.items():
        for path in (Path(folder_paths.models_dir) / "lag" / sub, WEIGHTS / sub):
            folder_paths.add_model_folder_path(name, str(path))
        entry = folder_paths.folder_names_and_paths[name]
        if isinstance(entry[1], set):
            entry[1].clear()
            entry[1].update(exts)
        else:
            folder_paths.folder_names_and_paths[name] = (entry[0], set(exts))


def folder_list(name: str) -> list[str]:
    if not comfy_available():
        return []
    import folder_paths

    try:
        return sorted(folder_paths.get_filename_list(name))
    except KeyError:
        return []


def model_folders(name: str) -> list[Path]:
    """The folders a model combo of kind `name` lists: ComfyUI's models/lag/<kind> (and any extra
    paths configured for it), and the pack's weights/<kind>."""
    folders = []
    if comfy_available():
        import folder_paths

        try:
            folders = [Path(p) for p in folder_paths.get_folder_paths(name)]
        except KeyError:
            folders = []
    pack = WEIGHTS / FOLDERS[name][0]
    return folders + ([pack] if pack not in folders else [])


def full_path(name: str, file: str) -> Path:
    """The file a combo value names, only inside the folders the combo lists (a prompt is untrusted)."""
    from ..lag_core.safepath import resolve_inside

    sub, suffixes = FOLDERS[name]
    return resolve_inside(file, model_folders(name), f"{sub} file", suffixes=suffixes,
                          where=f"ComfyUI/models/lag/{sub}/ or the pack's weights/{sub}/")


def first_folder(name: str) -> Path:
    """Where nodes write new files of this kind (ComfyUI's models/lag/<kind>)."""
    if comfy_available():
        import folder_paths

        return Path(folder_paths.get_folder_paths(name)[0])
    return WEIGHTS / FOLDERS[name][0]


def file_signature(path: Path) -> str:
    st = path.stat()
    return f"{path}:{st.st_mtime_ns}:{st.st_size}"


def device():
    if comfy_available():
        import comfy.model_management as mm

        return mm.get_torch_device()
    import torch

    return torch.device("cpu")


class ModelCache:
    """Loaded models kept across runs, keyed by (path, mtime, device); a few at most."""

    def __init__(self, size: int = 4):
        self.size = size
        self.items: OrderedDict = OrderedDict()

    def get(self, key, load):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = load()
        self.items[key] = value
        while len(self.items) > self.size:
            self.items.popitem(last=False)
        return value


CACHE = ModelCache()


def progress(total: int, preview_every: int = 0):
    """A core `callback(step, total, info)` that drives ComfyUI's progress bar (which also makes
    Cancel work: its hook raises when the user interrupts) and sends image previews. A call that
    neither advances the bar nor brings an image (a video's cold start, step by step) only checks
    for Cancel: nothing new is sent to the browser."""
    pbar = None
    shown = 0  # the bar's last value
    if comfy_available():
        import comfy.utils

        pbar = comfy.utils.ProgressBar(total)

    def callback(step: int, steps: int, info: dict) -> None:
        nonlocal shown
        if comfy_available():
            import comfy.model_management as mm

            mm.throw_exception_if_processing_interrupted()
        image = info.get("image")
        if pbar is None or (step == shown and image is None):
            return
        shown = step
        preview = None
        if preview_every and image is not None and (step % preview_every == 0 or step == steps):
            preview = preview_tuple(image)
        pbar.update_absolute(step, steps, preview)

    return callback


PREVIEW_SIDE = 256  # small images are previewed up to this size, in whole-pixel blocks


def preview_tuple(image):
    """ComfyUI's preview `(format, PIL image, max_size)` for `[H, W, 3]` / `[1, H, W, 3]` in 0..1: the image's own
    pixels, enlarged by a whole factor with nearest-neighbour when small (64 px -> 256 px), and `max_size` set to
    that size so that the server (which fits every preview into max_size x max_size with bilinear resampling)
    leaves it as it is. The preview is then what will be saved, not a blurred 512 px version of it."""
    from PIL import Image

    from ..lag_core.imageio import to_uint8

    pil = Image.fromarray(to_uint8(image))
    factor = max(1, min(4, PREVIEW_SIDE // max(pil.size)))
    if factor > 1:
        pil = pil.resize((pil.width * factor, pil.height * factor), Image.Resampling.NEAREST)
    return ("JPEG", pil, max(pil.size))


def input_directory() -> Path | None:
    if not comfy_available():
        return None
    import folder_paths

    return Path(folder_paths.get_input_directory())
