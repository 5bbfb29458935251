"""Load weight files without ever running code from them.

* `.safetensors`: tensors plus string metadata, nothing executable.
* Pickled checkpoints (`.ckpt`, `.pt`, `.pth`, `.bin`): always `torch.load(weights_only=True)`.
  Lightning checkpoints also pickle callback state keyed by classes such as
  `pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint`, which `weights_only` refuses.
  We list the globals the pickle asks for *without unpickling it*
  (`torch.serialization.get_unsafe_globals_in_checkpoint`), and stand in an inert placeholder
  class for each one from an allow-listed package (Lightning, OmegaConf, numpy, argparse). The
  placeholder records its arguments and never imports or calls the real thing. Any other global
  (`os.system`, `builtins.eval`, `subprocess.Popen`, ...) refuses the whole file before loading.

Writes are atomic: a temp file in the same folder, then `os.replace`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import torch

from .errors import UnsafePickleError, WeightsError

log = logging.getLogger("lag")

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
FORMAT_KEY = "lag_format"  # the metadata key that names which of our formats a safetensors file holds
SAFETENSORS_SUFFIX = ".safetensors"

# Packages whose pickled objects may appear beside the weights in training checkpoints. They are
# replaced by inert placeholders: nothing from these packages is imported or called.
_PLACEHOLDER_PREFIXES = (
    "pytorch_lightning.",
    "lightning.",
    "lightning_fabric.",
    "omegaconf.",
    "numpy.",
    "taming.",
    "main.",
)
_PLACEHOLDER_NAMES = {"argparse.Namespace", "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib.Path"}


class Placeholder:
    """Inert stand-in for a pickled object we do not need (callback state, numpy scalars)."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):
        self.__dict__.setdefault("items", {})[key] = value

    def append(self, value):
        self.__dict__.setdefault("list", []).append(value)

    def extend(self, values):
        self.__dict__.setdefault("list", []).extend(values)


def _first_sentence(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text.split('. ')[0][:200]}"


def _is_placeholder_global(name: str) -> bool:
    return name in _PLACEHOLDER_NAMES or name.startswith(_PLACEHOLDER_PREFIXES)


def _placeholders_for(names: list[str]) -> list[tuple[type, str]]:
    return [(type(name.rsplit(".", 1)[-1], (Placeholder,), {"qualified_name": name}), name) for name in names]


def _load_pickled(path: Path) -> object:
    if not zipfile.is_zipfile(path):
        # Legacy (pre-1.6) torch format: weights_only still protects us; unknown globals fail.
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - reported as one line
            raise WeightsError(
                f"could not read '{path}' as a torch checkpoint ({_first_sentence(exc)}); the file is corrupt or "
                "truncated, or not a checkpoint: download it again"
            ) from None
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as exc:  # noqa: BLE001
        raise WeightsError(
            f"could not read '{path}' as a torch checkpoint ({type(exc).__name__}); "
            "the file is corrupt or truncated: download it again"
        ) from exc
    refused = [name for name in unsafe if not _is_placeholder_global(name)]
    if refused:
        raise UnsafePickleError(
            f"refusing to load '{path}': its pickle asks for {', '.join(sorted(refused))}, which could run code; "
            "nothing from the file was run. Load only checkpoints you trust, or ask the author for a .safetensors file"
        )
    with torch.serialization.safe_globals(_placeholders_for(unsafe)):
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:  # noqa: BLE001
            raise WeightsError(
                f"could not load '{path}' ({_first_sentence(exc)}); the file is corrupt or truncated: download it again"
            ) from None


def _extract_state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "module"):
            inner = obj.get(key)
            if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise WeightsError(
        f"'{path}' holds no tensors keyed by name (found {type(obj).__name__}); expected a state dict or a "
        "Lightning checkpoint with a 'state_dict' entry"
    )


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a weight file safely. Returns `(state_dict, metadata)`; metadata is empty for pickles."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file '{path}' does not exist; check the path or put the file there")
    if path.stat().st_size == 0:
        raise WeightsError(f"weight file '{path}' is empty; download it again")
    if path.suffix == SAFETENSORS_SUFFIX:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                metadata = dict(f.metadata() or {})
                state = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as exc:  # noqa: BLE001
            raise WeightsError(
                f"could not read '{path}' as safetensors ({_first_sentence(exc)}); "
                "the file is corrupt or truncated: download or convert it again"
            ) from None
        return state, metadata
    if path.suffix in PICKLE_SUFFIXES:
        return _extract_state_dict(_load_pickled(path), path), {}
    raise WeightsError(
        f"'{path}' has suffix '{path.suffix}'; expected .safetensors or a torch checkpoint "
        f"({', '.join(PICKLE_SUFFIXES)})"
    )


_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2}


def read_safetensors_header(path: str | os.PathLike) -> tuple[dict[str, tuple[tuple[int, ...], int]], dict[str, str]]:
    """Names, shapes and byte sizes of a safetensors file's tensors, and its metadata, from the
    header alone: nothing is loaded. Returns `({name: (shape, nbytes)}, metadata)`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file '{path}' does not exist; check the path or put the file there")
    if path.stat().st_size == 0:
        raise WeightsError(f"weight file '{path}' is empty; download it again")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            tensors = {}
            for name in f.keys():
                view = f.get_slice(name)
                shape = tuple(int(n) for n in view.get_shape())
                count = 1
                for n in shape:
                    count *= n
                tensors[name] = (shape, count * _DTYPE_BYTES.get(view.get_dtype(), 1))
    except Exception as exc:  # noqa: BLE001
        raise WeightsError(
            f"could not read '{path}' as safetensors ({_first_sentence(exc)}); "
            "the file is corrupt or truncated: download or convert it again"
        ) from None
    return tensors, metadata


def tensor_shapes(state: dict[str, torch.Tensor]) -> dict[str, tuple[tuple[int, ...], int]]:
    """`read_safetensors_header`'s view of tensors already read (pickled checkpoints have no header)."""
    return {k: (tuple(v.shape), v.numel() * v.element_size()) for k, v in state.items()}


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike):
    """Yield a temp path beside `target`; on success it replaces `target`, on error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_safetensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict) -> Path:
    """Write tensors atomically with JSON-encoded metadata values (safetensors metadata is str->str)."""
    from safetensors.torch import save_file

    meta = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in metadata.items()}
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return Path(path)
