"""A LAG-format dataset from your own songs: audio files plus a CSV of lyrics and genres.

CSV columns: `file` (relative to the audio folder), `lyrics`, `genre`, optional `segment` (the
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


def read_lyrics_csv(csv_path: Path) -> list[dict]:
    if not csv_path.is_file():
        raise DataError(f"lyrics CSV '{csv_path}' does not exist")
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"file", "lyrics", "genre"} <= set(rows[0]):
        raise DataError(f"'{csv_path}' needs a header with columns file, lyrics, genre (and optional segment)")
    return rows


def build_dataset(audio_dir: str | os.PathLike, lyrics_csv: str | os.PathLike, out_dir: str | os.PathLike, *,
                  copy_audio: bool = True, force: bool = False, callback=None) -> dict:
    """Write the dataset folder atomically; returns `{"out", "entries", "genres"}`.
    `callback(row, rows, {})` once per CSV row."""
    import torch

    from ..audio.io import clips_10s, load_audio, save_audio, to_mono_22050
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
            src = audio_dir / row["file"]
            clips = clips_10s(to_mono_22050(load_audio(src)), "split")  # [S, 220500]
            segments = range(len(clips))
            if (row.get("segment") or "").strip():
                seg = int(row["segment"])
                if not 0 <= seg < len(clips):
                    raise DataError(f"{csv_path} line {n}: segment {seg} is out of range; '{src.name}' has {len(clips)} 10 s segments")
                segments = [seg]
            feats = mfcc_lag(clips[list(segments)])
            for k, seg in enumerate(segments):
                name = f"{src.stem}_{seg}"
                entry = LAGEntry(name, row["lyrics"].strip(), genre, GENRES.index(genre))
                if copy_audio:
                    entry.audio = f"{name}.flac"
                    audio[entry.audio] = save_audio({"waveform": clips[seg][None, None], "sample_rate": 22050}, Path(tmp) / entry.audio)
                entries.append(entry)
                mfccs.append(feats[k])
            if callback is not None:
                callback(n - 1, len(rows), {})
        write_dataset(out_dir, entries, torch.stack(mfccs), audio, force=force)
    return {"out": str(out_dir), "entries": len(entries), "genres": {g: sum(e.genre == g for e in entries) for g in GENRES}}
