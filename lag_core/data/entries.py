"""LAG entries: parse whatever container the release uses, and validate every sample."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..audio.mfcc import FRAMES, N_MFCC
from ..errors import DataError
from ..options import GENRES

FIELDS = ("fileName", "lyrics", "mfcc", "genre", "genreIdx")
MFCC_LEN = N_MFCC * FRAMES  # 55168
LAYOUTS = ("coef-major", "time-major")


@dataclass
class LAGEntry:
    file_name: str
    lyrics: str
    genre: str
    genre_idx: int
    audio: str | None = None  # file name inside the dataset's audio/ folder

    def to_json(self) -> dict:
        row = {"fileName": self.file_name, "lyrics": self.lyrics, "genre": self.genre, "genreIdx": self.genre_idx}
        if self.audio:
            row["audio"] = self.audio
        return row


def _records(raw) -> list:
    """Turn the release's container into a list of samples (lists/tuples/dicts)."""
    if hasattr(raw, "to_dict") and hasattr(raw, "columns"):  # pandas DataFrame
        return list(raw.to_dict("records"))
    if isinstance(raw, dict):
        if all(k in raw for k in FIELDS):  # a dict of columns
            cols = [list(raw[k]) for k in FIELDS]
            if len({len(c) for c in cols}) != 1:
                raise DataError("LAG pickle is a dict of columns of different lengths; expected equal-length columns")
            return [dict(zip(FIELDS, row)) for row in zip(*cols)]
        for key in ("data", "samples", "entries"):
            if isinstance(raw.get(key), (list, tuple)):
                return list(raw[key])
    if isinstance(raw, (list, tuple)):
        return list(raw)
    raise DataError(
        f"LAG pickle holds a {type(raw).__name__}; expected a list of [fileName, lyrics, mfcc, genre, genreIdx] samples, "
        "a list of dicts with those keys, or a DataFrame with those columns"
    )


def _fields(sample, i: int) -> tuple:
    if isinstance(sample, dict):
        missing = [k for k in FIELDS if k not in sample]
        if missing:
            raise DataError(f"LAG entry {i} lacks {', '.join(missing)}; every entry needs {', '.join(FIELDS)}")
        return tuple(sample[k] for k in FIELDS)
    if isinstance(sample, (list, tuple)) and len(sample) == 5:
        return tuple(sample)
    n = len(sample) if hasattr(sample, "__len__") else "?"
    raise DataError(f"LAG entry {i} has {n} fields ({type(sample).__name__}); expected 5: {', '.join(FIELDS)}")


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _numbers(value, name: str) -> np.ndarray:
    """An mfcc field as float32, checking its shape before converting anything: a numpy array, a flat
    list of 55168 numbers, or 128 (or 431) rows of numbers. Anything else (strings, nested or shared
    structures that would expand to billions of items) is refused without being walked."""
    if isinstance(value, np.ndarray):
        if value.size != MFCC_LEN or value.dtype.kind not in "iuf":
            raise DataError(f"entry {name} has an mfcc array of {value.size} {value.dtype} values; expected {MFCC_LEN} "
                            f"numbers = {N_MFCC} x {FRAMES} (a 10 s clip at 22050 Hz, hop 512)")
        return value.astype(np.float32, copy=False)
    if isinstance(value, (list, tuple)):
        if len(value) == MFCC_LEN and all(_is_number(x) for x in value):
            return np.asarray(value, dtype=np.float32)
        if len(value) in (N_MFCC, FRAMES) and all(
                isinstance(row, (list, tuple, np.ndarray)) and len(row) == MFCC_LEN // len(value) for row in value):
            rows = [row if isinstance(row, np.ndarray) and row.dtype.kind in "iuf" else None for row in value]
            if all(r is not None or all(_is_number(x) for x in row) for r, row in zip(rows, value)):
                return np.asarray(value, dtype=np.float32)
    found = f"{type(value).__name__} of {len(value)} items" if isinstance(value, (list, tuple)) else type(value).__name__
    raise DataError(f"entry {name} has an mfcc that is a {found}; expected {MFCC_LEN} numbers = {N_MFCC} x {FRAMES} "
                    "(a flat list, 128 rows or a numpy array)")


def mfcc_matrix(value, name: str, layout: str = "coef-major") -> np.ndarray:
    """A flat 55168-vector (or a 2-D array) -> float32 `[128, 431]`."""
    if layout not in LAYOUTS:
        raise DataError(f"unknown mfcc layout '{layout}'; expected one of {', '.join(LAYOUTS)}")
    arr = _numbers(value, name)
    if arr.size != MFCC_LEN:
        raise DataError(
            f"entry {name} has an mfcc of {arr.size} values (shape {arr.shape}); expected {MFCC_LEN} = {N_MFCC} x {FRAMES} "
            "(a 10 s clip at 22050 Hz, hop 512)"
        )
    if not np.isfinite(arr).all():
        raise DataError(f"entry {name} has NaN or infinite mfcc values")
    if layout == "time-major":
        return np.ascontiguousarray(arr.reshape(FRAMES, N_MFCC).T)
    return arr.reshape(N_MFCC, FRAMES)


def parse_entries(raw, layout: str = "coef-major") -> tuple[list[LAGEntry], np.ndarray, list[str]]:
    """Validate every sample. Returns entries, mfcc `[N, 128, 431]` and a list of problems.

    Errors (a wrong mfcc size, a missing field, an unknown genre with no valid genreIdx) raise
    `DataError` naming the entry. Problems that leave the entry usable are returned: genre and
    genreIdx disagreeing (the genre name wins), empty lyrics, duplicate fileNames.
    """
    records = _records(raw)
    if not records:
        raise DataError("LAG pickle holds no entries")
    from ..memory import format_bytes, physical_memory_bytes

    needed = len(records) * MFCC_LEN * 4
    if needed > physical_memory_bytes() // 2:
        raise DataError(f"LAG pickle lists {len(records)} entries, whose MFCCs need {format_bytes(needed)} of memory, more than "
                        "half of this machine's; the LAG release has 663 entries: check the file")
    entries, mfccs, problems = [], np.empty((len(records), N_MFCC, FRAMES), np.float32), []
    for i, sample in enumerate(records):
        name, lyrics, mfcc, genre, genre_idx = _fields(sample, i)
        if not isinstance(name, str) or len(name) > 1000:
            raise DataError(f"entry {i} has a fileName of type {type(name).__name__}; expected a string of at most 1000 characters")
        label = f"{i} ({name})"
        if not isinstance(lyrics, str) or len(lyrics) > 100_000:
            raise DataError(f"entry {label} has lyrics of type {type(lyrics).__name__}; expected a string (at most 100,000 characters)")
        if not isinstance(genre, str) or len(genre) > 100:
            raise DataError(f"entry {label} has a genre of type {type(genre).__name__}; expected a name such as metal")
        mfccs[i] = mfcc_matrix(mfcc, label, layout)
        genre = str(genre).strip().lower()
        try:
            if not (_is_number(genre_idx) or (isinstance(genre_idx, str) and len(genre_idx) < 20)):
                raise TypeError
            idx = int(genre_idx)
            if _is_number(genre_idx) and idx != genre_idx:
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise DataError(f"entry {label} has genreIdx {genre_idx!r}; expected an integer 0-3") from None
        if genre not in GENRES:
            if 0 <= idx < len(GENRES):
                problems.append(f"entry {label}: unknown genre '{genre}', using genreIdx {idx} ({GENRES[idx]})")
                genre = GENRES[idx]
            else:
                raise DataError(f"entry {label} has unknown genre '{genre}' and genreIdx {idx}; expected one of {', '.join(GENRES)}")
        if not 0 <= idx < len(GENRES) or GENRES[idx] != genre:
            problems.append(f"entry {label}: genre '{genre}' disagrees with genreIdx {idx}; using '{genre}' ({GENRES.index(genre)})")
            idx = GENRES.index(genre)
        if not lyrics.strip():
            problems.append(f"entry {label}: empty lyrics")
        entries.append(LAGEntry(name, lyrics.strip(), genre, idx))
    for name, count in Counter(e.file_name for e in entries).items():
        if count > 1:
            problems.append(f"fileName '{name}' appears {count} times")
    return entries, mfccs, problems
