"""Our native LAG dataset folder, safe to share (no pickles):

    entries.jsonl          one JSON object per entry: fileName, lyrics, genre, genreIdx[, audio]
    features.safetensors   mfcc [N, 128, 431] (float32 or float16)
    audio/                 optional audio files named by the entries' `audio` field

A folder is written atomically: built beside the target, then renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..options import GENRES
from ..safeload import FORMAT_KEY
from .entries import FRAMES, N_MFCC, LAGEntry, parse_entries

ENTRIES = "entries.jsonl"
FEATURES = "features.safetensors"
AUDIO_DIR = "audio"
SAMPLE_DIR = Path(__file__).parent / "sample"


@dataclass
class LAGDataset:
    root: Path | None
    entries: list[LAGEntry]
    mfcc: torch.Tensor  # [N, 128, 431] float32
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def name(self) -> str:
        return self.root.name if self.root else "dataset"

    def index_of(self, key: int | str) -> int:
        """An index (int or digits) or a fileName -> index, with a clear error."""
        from ..safepath import shown

        if isinstance(key, str) and key.strip().lstrip("-").isdigit() and len(key.strip()) > 18:
            raise DataError(f"entry index '{shown(key, 30)}' is out of range; {self.name} has {len(self)} entries")
        if isinstance(key, int) or (isinstance(key, str) and key.strip().lstrip("-").isdigit()):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise DataError(f"entry index {i} is out of range; {self.name} has {len(self)} entries (0-{len(self) - 1})")
            return i % len(self)
        for i, e in enumerate(self.entries):
            if e.file_name == key:
                return i
        raise DataError(f"no entry named '{shown(key)}' in {self.name}; `lag data info` lists the names")

    def audio_path(self, i: int) -> Path | None:
        """The entry's audio file, only inside the dataset's own audio/ folder (an `audio` field that
        points elsewhere, by `..`, an absolute path or a symlink, is treated as no audio)."""
        from ..safepath import is_inside

        e = self.entries[i]
        if not e.audio or self.root is None:
            return None
        path = self.root / AUDIO_DIR / e.audio
        return path if path.is_file() and is_inside(path, self.root / AUDIO_DIR) else None

    def content_hash(self) -> str:
        """Hash of lyrics, genres and features: the key of caches derived from this dataset."""
        h = hashlib.sha256()
        for e in self.entries:
            h.update(json.dumps(e.to_json(), sort_keys=True).encode())
        h.update(self.mfcc.numpy().tobytes())
        return h.hexdigest()[:16]

    def genre_counts(self) -> dict[str, int]:
        counts = Counter(e.genre for e in self.entries)
        return {g: counts.get(g, 0) for g in GENRES}


def open_dataset(path: str | os.PathLike | None = None, layout: str = "coef-major") -> LAGDataset:
    """A native folder, a LAG `.pkl`, `None` / `sample` for the bundled sample, or `heldout` for
    the bundled held-out evaluation set (never trained on)."""
    if path is None or str(path) in ("sample", "bundled", ""):
        path = SAMPLE_DIR
    elif str(path) == "heldout":
        path = SAMPLE_DIR.parent / "heldout"
    path = Path(path).expanduser()
    if path.is_file() and path.suffix in (".pkl", ".pickle"):
        from .lag_pickle import load_lag_pickle

        entries, mfcc, problems = parse_entries(load_lag_pickle(path), layout)
        return LAGDataset(None, entries, torch.from_numpy(mfcc), problems)
    if not path.is_dir():
        raise DataError(f"dataset '{path}' does not exist; give a dataset folder (entries.jsonl + features.safetensors) or a LAG .pkl")
    return _open_folder(path)


def open_entry(spec: str) -> tuple[LAGDataset, int]:
    """`DATASET:KEY` -> (dataset, index). DATASET may contain colons (Windows paths) or be `sample`;
    KEY is an index or a fileName."""
    head, sep, key = spec.rpartition(":")
    if not sep or not head:
        raise DataError(f"entry must be DATASET:INDEX or DATASET:fileName (e.g. sample:3), found '{spec}'")
    ds = open_dataset(head)
    return ds, ds.index_of(key)


def _open_folder(root: Path) -> LAGDataset:
    from safetensors import safe_open

    entries_file, features_file = root / ENTRIES, root / FEATURES
    for f in (entries_file, features_file):
        if not f.is_file():
            raise DataError(f"dataset folder '{root}' lacks {f.name}; expected {ENTRIES} and {FEATURES} (make one with `lag data convert` or `lag data build`)")
    entries = []
    try:
        text = entries_file.read_bytes().decode("utf-8-sig")  # a BOM is tolerated
    except UnicodeDecodeError as exc:
        raise DataError(f"{entries_file} is not UTF-8 text (byte {exc.start}); save it as UTF-8 or rebuild the dataset") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise TypeError("not an object")
            name, lyrics, genre, idx, audio = (row["fileName"], row["lyrics"], row["genre"], row["genreIdx"], row.get("audio"))
            if not all(isinstance(v, str) for v in (name, lyrics, genre)) or not isinstance(audio, (str, type(None))):
                raise TypeError("fileName, lyrics, genre (and audio) must be strings")
            if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < len(GENRES):
                raise ValueError(f"genreIdx must be an integer 0-{len(GENRES) - 1}")
            entries.append(LAGEntry(name, lyrics, genre, idx, audio))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, RecursionError) as exc:
            detail = str(exc) if isinstance(exc, (TypeError, ValueError)) and not isinstance(exc, json.JSONDecodeError) else type(exc).__name__
            raise DataError(f"{entries_file} line {n} is not a valid entry ({detail[:120]}); expected JSON with fileName, "
                            "lyrics, genre, genreIdx") from None
    try:
        with safe_open(str(features_file), framework="pt") as f:
            mfcc = f.get_tensor("mfcc").float()
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{features_file} is not a readable safetensors file with an 'mfcc' tensor ({type(exc).__name__}); rebuild the dataset") from None
    if mfcc.shape != (len(entries), N_MFCC, FRAMES):
        raise DataError(f"{features_file} holds mfcc {tuple(mfcc.shape)} but {ENTRIES} lists {len(entries)} entries; expected [{len(entries)}, {N_MFCC}, {FRAMES}]")
    from ..safepath import is_inside

    problems = []
    for e in entries:
        if not e.audio:
            continue
        path = root / AUDIO_DIR / e.audio
        if not is_inside(path, root / AUDIO_DIR):  # checked first: says nothing of what is outside
            problems.append(f"entry {e.file_name}: audio '{e.audio}' points outside the dataset's audio/ folder; it is ignored")
        elif not path.is_file():
            problems.append(f"entry {e.file_name}: audio file '{e.audio}' is missing")
    problems += nonfinite_problems(entries, mfcc, features_file)
    return LAGDataset(root, entries, mfcc, problems)


def nonfinite_problems(entries: list[LAGEntry], mfcc: torch.Tensor, source: Path) -> list[str]:
    """One problem per entry whose MFCC holds NaN or infinite values (they would poison training)."""
    bad = (~torch.isfinite(mfcc)).flatten(1).sum(1)  # [N] non-finite values per entry
    return [
        f"entry {entries[i].file_name}: its mfcc in {source.name} holds {int(bad[i])} NaN or infinite values; "
        "rebuild the dataset from the audio (`lag data build`) or remove the entry"
        for i in torch.nonzero(bad).flatten().tolist()
    ]


def is_lag_dataset(folder: Path) -> bool:
    """How `--force` recognises a folder of ours (and so one it may replace): `entries.jsonl`, a
    `features.safetensors` whose metadata says `lag-dataset`, an optional `audio/` of plain files,
    and nothing else. A folder holding anything more is the user's: never replaced."""
    from safetensors import safe_open

    try:
        names = {p.name for p in folder.iterdir()}
        if not {ENTRIES, FEATURES} <= names or names - {ENTRIES, FEATURES, AUDIO_DIR}:
            return False
        with safe_open(str(folder / FEATURES), framework="pt") as f:
            if (f.metadata() or {}).get(FORMAT_KEY) != "lag-dataset":
                return False
        audio = folder / AUDIO_DIR
        return not audio.exists() or (audio.is_dir() and not audio.is_symlink()
                                      and all(p.is_file() and not p.is_symlink() for p in audio.iterdir()))
    except Exception:  # noqa: BLE001 - unreadable: not provably ours
        return False


@contextlib.contextmanager
def atomic_dir(target: Path, force: bool = False, ours=is_lag_dataset, what: str = "a dataset folder made by lag"):
    """Yield a temp folder beside `target`; on success it becomes `target`, on error it is removed.

    An existing `target` is replaced only with `force` and only when `ours(target)` recognises it
    (never a symlink, a file, or a folder holding anything of the user's). The old folder is moved
    to a unique name of ours first and deleted only once the new one is in place."""
    from ..safeload import check_output, clean_stale_temps, restore_stale_backup, temp_prefix

    target = Path(os.path.abspath(target))  # "." and "dir/.." name their real folder
    restore_stale_backup(target)
    if target.is_symlink():
        raise DataError(f"'{target}' is a symbolic link; give the real folder it points to, or a new folder")
    if target.exists():
        if not force:
            raise DataError(f"'{target}' already exists; choose a new folder or pass --force to replace it")
        if not target.is_dir() or not ours(target):
            raise DataError(f"'{target}' is not {what}, so --force will not replace it (nothing was changed); "
                            "choose a new folder, or move it away yourself")
    check_output(target, "output folder", folder=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(target.parent, target.name)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700 folders; a dataset is read by other users too (ComfyUI)
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(target), suffix=".old", dir=target.parent))
            os.replace(target, old)  # onto our own empty folder: a unique name, nobody else's
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_dataset(
    out_dir: str | os.PathLike,
    entries: list[LAGEntry],
    mfcc: np.ndarray | torch.Tensor,
    audio: dict[str, Path] | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    force: bool = False,
) -> Path:
    """Write a dataset folder atomically. `audio` maps entry audio names to files to copy in."""
    from safetensors.torch import save_file

    mfcc = torch.as_tensor(mfcc).float()
    if mfcc.shape != (len(entries), N_MFCC, FRAMES):
        raise DataError(f"mfcc has shape {tuple(mfcc.shape)}; expected [{len(entries)}, {N_MFCC}, {FRAMES}]")
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, force=force) as tmp:
        lines = [json.dumps(e.to_json(), ensure_ascii=False) for e in entries]
        (tmp / ENTRIES).write_text("\n".join(lines) + "\n", encoding="utf-8")
        save_file({"mfcc": mfcc.to(dtype).contiguous()}, str(tmp / FEATURES), metadata={FORMAT_KEY: "lag-dataset", "layout": "coef-major"})
        if audio:
            (tmp / AUDIO_DIR).mkdir()
            for name, src in audio.items():
                shutil.copyfile(src, tmp / AUDIO_DIR / name)
    return out_dir


def describe(ds: LAGDataset) -> dict:
    """What `lag data info` reports."""
    with_audio = sum(1 for i in range(len(ds)) if ds.audio_path(i) is not None)
    return {
        "path": str(ds.root) if ds.root else None,
        "entries": len(ds),
        "genres": ds.genre_counts(),
        "mfcc_shape": list(ds.mfcc.shape),
        "audio": with_audio,
        "problems": ds.problems,
    }
