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


def build_checked(factory, tensors: dict, source, what: str):
    """`factory()` loaded with `tensors`, but built for real only when the tensors are exactly the
    module's (names and shapes, compared on the meta device first): a config in a small file that
    asks for a huge module is refused before any memory is allocated."""
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in factory().state_dict().items()}
    except WeightsError:
        raise
    except Exception as exc:  # noqa: BLE001 - a config no module can be built from: one line
        raise WeightsError(f"the {what} config of '{source}' does not build a model ({type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:120]}); train or convert the file again") from None
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if found != expected:
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        wrong = [f"{k} {list(found[k])} vs {list(expected[k])}" for k in sorted(set(found) & set(expected)) if found[k] != expected[k]]
        raise WeightsError(f"the {what} in '{source}' does not match its own config (missing {missing[:2]}, unexpected "
                           f"{extra[:2]}, shapes that differ {wrong[:2]}); train or convert the file again")
    module = factory()
    module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    return module


def metadata_config(meta: dict, key: str, build, path, what: str, *, required: bool = True):
    """`build(json.loads(meta[key]))` with every way a hostile or broken file can fail (not JSON,
    nested 100,000 deep, the wrong shape or types, sizes its config refuses) as one WeightsError."""
    from .errors import InputError

    if key not in meta:
        if not required:
            return None
        raise WeightsError(f"'{path}' has no {key} metadata; expected {what} written by lag")
    try:
        return build(json.loads(meta[key]))
    except (json.JSONDecodeError, RecursionError, TypeError, ValueError, AttributeError, KeyError, InputError) as exc:
        detail = str(exc).splitlines()[0][:200] if isinstance(exc, InputError) else type(exc).__name__
        raise WeightsError(f"the {key} metadata of '{path}' is not {what} ({detail}); train or convert the file again") from None


def check_output(target: str | os.PathLike, what: str = "output", *, folder: bool = False) -> Path:
    """One line, before any work, unless `target` can be written: not an existing folder (or, with
    `folder`, not an existing file), not below a regular file, in a place we may write to."""
    import stat

    from .errors import InputError

    target = Path(os.path.abspath(target))
    if target.is_dir() and not folder and not target.is_symlink():
        raise InputError(f"{what} '{target}' is an existing folder; give a file name (e.g. {target / 'out.png'})")
    if folder and target.exists() and not target.is_dir():
        raise InputError(f"{what} '{target}' is an existing file; give a folder name")
    if not folder and target.exists() and not stat.S_ISREG(target.stat().st_mode):
        raise InputError(f"{what} '{target}' exists and is not a regular file (a device, a pipe, a socket); "
                         "give the name of a file to write")
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{what} '{target}' is below '{ancestor}', which is a file, not a folder; choose another place")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{what} '{target}' cannot be written: '{ancestor}' is read-only for this user; choose another place")
    try:  # permission bits do not stop root, and some file systems (/proc, read-only mounts) refuse anyway
        fd, probe = tempfile.mkstemp(prefix=".lag-write-test.", dir=ancestor)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{what} '{target}' cannot be written: '{ancestor}' refuses new files ({exc.strerror}); "
                         "choose another place") from None
    return target


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(parent: Path, name: str) -> None:
    """Remove the temp files and folders (`.NAME.PID.*.tmp`) that a killed run of ours left beside
    `name`: only names of exactly our pattern, whose process is gone."""
    import re
    import shutil

    pattern = re.compile(rf"^\.{re.escape(name)}\.(\d+)\.[A-Za-z0-9_]+\.tmp$")
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            m = pattern.match(entry.name)
            if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


def restore_stale_backup(target: Path) -> None:
    """A run killed between moving an old folder aside (`.NAME.PID.*.old`) and putting the new one in
    place left the user's previous folder under that name: put it back when nothing replaced it,
    remove it when the new folder did arrive."""
    import re
    import shutil

    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.[A-Za-z0-9_]+\.old$")
    with contextlib.suppress(OSError):
        for entry in sorted(target.parent.iterdir()):
            m = pattern.match(entry.name)
            if not m or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))) or not entry.is_dir():
                continue
            if not target.exists() and any(entry.iterdir()):
                os.replace(entry, target)
            else:
                shutil.rmtree(entry, ignore_errors=True)


def temp_prefix(target: Path) -> str:
    """`.NAME.PID.`: temp names a later run can recognise as ours and as left behind."""
    return f".{target.name}.{os.getpid()}."


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p, returning the folders it created (deepest last), so a failure can remove them."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for d in reversed(missing):
        d.mkdir()
    return missing


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike):
    """Yield a temp path beside `target`; on success it replaces `target`, on error it (and any
    folder made for it) is removed. Temps that a killed run left beside `target` are cleaned first."""
    import stat

    target = Path(target)
    if target.is_dir() or (target.exists() and not stat.S_ISREG(target.stat().st_mode)):
        from .errors import InputError

        raise InputError(f"'{target}' is an existing folder or special file, not a regular file; give a file name")
    created = _make_parents(target.parent)
    tmp = None
    try:
        clean_stale_temps(target.parent, target.name)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent)
        os.close(fd)
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDWR)  # on disk before the rename: a power loss leaves the old file, not an empty
        try:  # one (a write handle: Windows' FlushFileBuffers refuses a read-only one)
            os.fsync(fd)
        finally:
            os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, target)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        for d in created:  # deepest first
            with contextlib.suppress(OSError):
                d.rmdir()
        raise


def write_safetensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict) -> Path:
    """Write tensors atomically with JSON-encoded metadata values (safetensors metadata is str->str)."""
    from safetensors.torch import save_file

    meta = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in metadata.items()}
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return Path(path)
