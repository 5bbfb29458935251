"""A LAG-format dataset from your own songs: audio files plus a CSV of lyrics and genres.

CSV columns: `file` (relative to the audio folder, and inside it unless `allow_outside`), `lyrics`, `genre`, optional `segment` (the
index of one 10 s segment; without it every 10 s segment of the file becomes an entry). Each
entry gets the MFCC of its segment exactly as LAG computes it, and (unless `copy_audio=False`)
the segment itself as FLAC, so the dataset is complete on its own.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

from ..errors import DataError
from ..options import GENRES

COLUMNS = ("file", "lyrics", "genre")


def read_lyrics_csv(csv_path: Path) -> list[dict]:
    """The rows of a lyrics CSV (UTF-8, with or without a BOM), each with every column filled in."""
    if not csv_path.is_file():
        raise DataError(f"lyrics CSV '{csv_path}' does not exist")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = [h.strip() for h in reader.fieldnames or []]
    except UnicodeDecodeError as exc:
        raise DataError(f"'{csv_path}' is not UTF-8 text (byte {exc.start}); save it as UTF-8 and try again") from None
    except csv.Error as exc:
        raise DataError(f"'{csv_path}' is not a readable CSV ({exc}); expected columns file, lyrics, genre") from None
    if not set(COLUMNS) <= set(header):
        raise DataError(f"'{csv_path}' needs a header with columns file, lyrics, genre (and optional segment); found "
                        f"{', '.join(header[:6]) or 'none'}")
    if not rows:
        raise DataError(f"'{csv_path}' has a header but no rows; add one line per song")
    clean = []
    for n, row in enumerate(rows, 2):
        row = {(k or "").strip(): v for k, v in row.items()}
        missing = [c for c in COLUMNS if row.get(c) is None]
        if missing:
            raise DataError(f"{csv_path} line {n} is short: no {', '.join(missing)}; every row needs file, lyrics, genre")
        clean.append(row)
    return clean


CLIP_SECONDS = 10


def _audio_file(audio_dir: Path, name: str, allow_outside: bool, csv_path: Path, line: int) -> Path:
    """A CSV row's file, inside AUDIO_DIR unless the user allowed otherwise."""
    from ..safepath import resolve_inside

    if allow_outside:
        path = (audio_dir / name).expanduser()
        if not path.is_file():
            raise DataError(f"{csv_path} line {line}: audio file '{path}' does not exist")
        return path
    try:
        return resolve_inside(name, [audio_dir], "audio file", where=f"{audio_dir}/")
    except ValueError as exc:
        raise DataError(f"{csv_path} line {line}: {exc} (or pass --allow-outside to read files elsewhere)") from None


def _segment(text: str, csv_path: Path, line: int) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise DataError(f"{csv_path} line {line}: segment '{text.strip()[:20]}' is not a whole number (the 10 s index)") from None


def build_dataset(audio_dir: str | os.PathLike, lyrics_csv: str | os.PathLike, out_dir: str | os.PathLike, *,
                  copy_audio: bool = True, force: bool = False, allow_outside: bool = False, callback=None) -> dict:
    """Write the dataset folder atomically; returns `{"out", "entries", "genres"}`.
    `callback(row, rows, {})` once per CSV row."""
    import torch

    from ..audio.io import audio_info, clips_10s, load_audio, save_audio, to_mono_22050
    from ..audio.mfcc import mfcc_lag
    from .dataset import write_dataset
    from .entries import LAGEntry

    audio_dir, csv_path = Path(audio_dir), Path(lyrics_csv)
    rows = read_lyrics_csv(csv_path)
    entries, mfccs, audio = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for n, row in enumerate(rows, 2):
            genre = row["genre"].strip().lower()
            if genre not in GENRES:
                raise DataError(f"{csv_path} line {n}: unknown genre '{row['genre']}'; expected one of {', '.join(GENRES)}")
            if not row["lyrics"].strip():
                raise DataError(f"{csv_path} line {n}: empty lyrics")
            src = _audio_file(audio_dir, row["file"], allow_outside, csv_path, n)
            frames, sr, _ = audio_info(src)
            count = max(1, -(-frames // (sr * CLIP_SECONDS)))  # 10 s segments, the last one zero-padded
            segments = range(count)
            if (row.get("segment") or "").strip():
                seg = _segment(row["segment"], csv_path, n)
                if not 0 <= seg < count:
                    raise DataError(f"{csv_path} line {n}: segment {seg} is out of range; '{src.name}' has {count} 10 s segments")
                segments = [seg]
            for seg in segments:  # one 10 s window at a time: a long file is never decoded whole
                clip = clips_10s(to_mono_22050(load_audio(src, seg * CLIP_SECONDS, CLIP_SECONDS)), "first")  # [1, 220500]
                name = f"{src.stem}_{seg}"
                entry = LAGEntry(name, row["lyrics"].strip(), genre, GENRES.index(genre))
                if copy_audio:
                    entry.audio = f"{name}.flac"
                    audio[entry.audio] = save_audio({"waveform": clip[None], "sample_rate": 22050}, Path(tmp) / entry.audio)
                entries.append(entry)
                mfccs.append(mfcc_lag(clip)[0])
            if callback is not None:
                callback(n - 1, len(rows), {})
        write_dataset(out_dir, entries, torch.stack(mfccs), audio, force=force)
    return {"out": str(out_dir), "entries": len(entries), "genres": {g: sum(e.genre == g for e in entries) for g in GENRES}}
