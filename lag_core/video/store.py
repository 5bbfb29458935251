"""A frames folder that makes a render resumable: every frame is a PNG and every optimised frame's
latent a safetensors file, each written atomically as soon as it is made. `settings.json` holds
what the frames depend on; a folder made with other settings is refused, so a re-run with the same
arguments continues where a killed one stopped and never mixes two renders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..errors import InputError
from ..safeload import atomic_path, write_safetensors

SETTINGS = "settings.json"


def _flat(settings: dict, prefix: str = "") -> dict:
    """`{"video": {"fps": 8}}` -> `{"video.fps": 8}`, so a refusal names the setting that differs."""
    out = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


class FrameStore:
    def __init__(self, folder: str | os.PathLike, settings: dict, frame_size: tuple[int, int] | None = None,
                 latent_shape: tuple[int, ...] | None = None):
        """`frame_size` (H, W) and `latent_shape`, when given, are checked on every frame and latent read
        back: a file of another size is damage, not a frame of this render."""
        self.folder = Path(folder)
        self.settings = json.loads(json.dumps(settings, sort_keys=True))  # what JSON makes of it, to compare
        self.frame_size = frame_size
        self.latent_shape = latent_shape

    def open(self) -> FrameStore:
        """Create the folder, or check that an existing one was made with the same settings."""
        marker = self.folder / SETTINGS
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError(f"frames folder '{self.folder}' is a file; give another --frames-dir")
        if marker.is_file():
            try:
                found = json.loads(marker.read_text())
            except (OSError, ValueError, RecursionError):
                found = None
            if not (isinstance(found, dict) and set(found) == set(self.settings)):
                raise InputError(f"folder '{self.folder}' has a {SETTINGS} that `lag video` did not write: it is not a "
                                 "frames folder; give an empty or new --frames-dir")
            # Temps a killed render left are cleaned by the next write of the same frame (safeload.atomic_path).
            if found != self.settings:
                ours, theirs = _flat(self.settings), _flat(found)
                differ = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
                raise InputError(f"frames folder '{self.folder}' was made with other settings (differing: "
                                 f"{', '.join(differ)}); re-run with its settings, give another --frames-dir, or delete "
                                 "the folder to start over")
            return self
        if self.folder.is_dir() and any(self.folder.iterdir()):
            raise InputError(f"frames folder '{self.folder}' is not empty and has no {SETTINGS} of `lag video`; "
                             "give an empty or new --frames-dir")
        with atomic_path(marker) as tmp:
            tmp.write_text(json.dumps(self.settings, indent=1, sort_keys=True) + "\n")
        return self

    def frame_path(self, index: int) -> Path:
        return self.folder / f"frame_{index:06d}.png"

    def latent_path(self, index: int) -> Path:
        return self.folder / f"latent_{index:06d}.safetensors"

    def has_frame(self, index: int) -> bool:
        return self.frame_path(index).is_file()

    def save_frame(self, index: int, image: torch.Tensor) -> None:
        from ..imageio import save_png

        save_png(image, self.frame_path(index))

    def _damaged(self, path: Path, why: str) -> InputError:
        return InputError(f"frames folder '{self.folder}': {path.name} is damaged ({why}); "
                          "delete that file and re-run to make it again")

    def load_frame(self, index: int) -> torch.Tensor:
        from ..imageio import load_image

        path = self.frame_path(index)
        try:
            image = load_image(path).permute(1, 2, 0)[None]  # [1, H, W, 3]
        except ValueError:
            raise self._damaged(path, "not a readable PNG") from None
        if self.frame_size is not None and tuple(image.shape[1:3]) != tuple(self.frame_size):
            raise self._damaged(path, f"{image.shape[2]}x{image.shape[1]} pixels, this render's frames are "
                                      f"{self.frame_size[1]}x{self.frame_size[0]}")
        return image

    def latent(self, index: int) -> torch.Tensor | None:
        """The saved latent of optimised frame `index`, or None."""
        path = self.latent_path(index)
        if not path.is_file():
            return None
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError):
            raise self._damaged(path, "not a readable safetensors file") from None
        z = tensors.get("latent")
        if z is None:
            raise self._damaged(path, "no 'latent' tensor in it")
        if not z.is_floating_point():
            raise self._damaged(path, f"its dtype is {str(z.dtype).replace('torch.', '')}, expected a float latent")
        if self.latent_shape is not None and tuple(z.shape) != tuple(self.latent_shape):
            raise self._damaged(path, f"a latent of shape {list(z.shape)}, this render's are {list(self.latent_shape)}")
        return z.float()

    def save_latent(self, index: int, z: torch.Tensor) -> None:
        write_safetensors(self.latent_path(index), {"latent": z}, {"frame": index})
