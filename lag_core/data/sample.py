"""The bundled LAG-format sample and its held-out evaluation set, in the toy world's words.

* `sample` (64 entries): every genre x content motif (`toyworld.vocab.MOTIFS`), two lines each.
  Each line is written for this project (no copyrighted lyrics) and holds one motif word, in one
  of the motif's sample word forms, among other words. Lyric attention trains on it.
* `heldout` (32 entries): one line per genre x motif, in sentence frames the sample never uses,
  with the motif's held-out word form (or a sample form at another position), and audio from
  other seeds. Used only for evaluation (`lag eval fidelity`); nothing trains on it.

Every entry's audio is synthesised by `synth.py` for its genre. Rebuild both with
`lag data build-sample` (deterministic: the same files every time, up to the OGG encoder). The
MFCCs are computed from the decoded OGG files, as a user's audio would be.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..options import GENRES
from ..toyworld.vocab import HELDOUT_FORMS, MOTIF_NAMES, TRAIN_FORMS
from .dataset import SAMPLE_DIR, write_dataset
from .entries import LAGEntry

HELDOUT_DIR = SAMPLE_DIR.parent / "heldout"

# Frames of the sample's lines ({w}: the motif word); the word sits at the start, middle or end.
SAMPLE_FRAMES = (
    "{w} is all I see when I close my eyes",
    "Running through the {w} with my hands up high",
    "We were young and wild under the {w}",
    "Take me back to the {w} one more time",
    "Tell me why the {w} keeps calling my name",
    "Every road I walk leads to {w}",
    "Hold me close while the {w} comes down",
    "Nothing left but {w} and an empty street",
    "I hear your voice inside the {w}",
    "Singing loud until the {w} is gone",
    "{w} on the radio and we sing along",
    "Never let me go into the {w} alone",
    "My whole world turned to {w} tonight",
    "Dancing slow in the {w} with you",
    "They said the {w} would never fade",
    "Counting every step beneath the {w}",
)
# Frames of the held-out lines: none of them is a sample frame or a caption frame.
HELDOUT_FRAMES = (
    "Somewhere far away the {w} is waiting",
    "Call me when the {w} is over",
    "{w} again and I still remember you",
    "Out of the city into the {w} we go",
    "I wrote your name across the {w}",
    "The last train home was full of {w}",
    "Can you feel the {w} in the dark",
    "Look at all this {w} around us",
)


def _fill(frame: str, word: str) -> str:
    line = frame.format(w=word)
    return line[0].upper() + line[1:]


def sample_lines() -> list[tuple[str, str, str]]:
    """(genre, motif, line) of the bundled sample, in entry order (genre-major, 16 per genre)."""
    out = []
    for g, genre in enumerate(GENRES):
        for m, motif in enumerate(MOTIF_NAMES):
            for k in range(2):
                frame = SAMPLE_FRAMES[(g * 5 + m * 2 + k * 7) % len(SAMPLE_FRAMES)]
                out.append((genre, motif, _fill(frame, TRAIN_FORMS[motif][(g + m + k) % len(TRAIN_FORMS[motif])])))
    return out


def heldout_lines() -> list[tuple[str, str, str]]:
    """(genre, motif, line) of the held-out set: three in four use the held-out word form."""
    out = []
    for g, genre in enumerate(GENRES):
        for m, motif in enumerate(MOTIF_NAMES):
            frame = HELDOUT_FRAMES[(g * 3 + m) % len(HELDOUT_FRAMES)]
            word = TRAIN_FORMS[motif][m % 3] if (g + m) % 4 == 3 else HELDOUT_FORMS[motif][0]
            out.append((genre, motif, _fill(frame, word)))
    return out


def sample_entries(heldout: bool = False) -> list[tuple[LAGEntry, int]]:
    """Entries and their audio seeds. Sample seeds are 1000 * genre + i (as before this set grew);
    held-out seeds start at 500_000, so no audio is shared."""
    prefix, lines, base = ("heldout", heldout_lines(), 500_000) if heldout else ("sample", sample_lines(), 0)
    out, count = [], {g: 0 for g in GENRES}
    for genre, _motif, line in lines:
        g, i = GENRES.index(genre), count[genre]
        count[genre] += 1
        name = f"{prefix}_{genre}_{i}"
        out.append((LAGEntry(name, line, genre, g, audio=f"{name}.ogg"), base + 1000 * g + i))
    return out


def _build(entries_seeds, out_dir, force: bool) -> Path:
    import soundfile as sf

    from ..audio.io import audio_to_mfcc, load_audio
    from .synth import synth_clip

    entries, audio_files, mfccs = [], {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for entry, seed in entries_seeds:
            path = Path(tmp) / entry.audio
            sf.write(str(path), synth_clip(entry.genre, seed), 22050, format="OGG", subtype="VORBIS")
            mfccs.append(audio_to_mfcc(load_audio(path))[0])
            entries.append(entry)
            audio_files[entry.audio] = path
        mfcc = torch.stack(mfccs).numpy().astype(np.float32)
        return write_dataset(out_dir, entries, mfcc, audio_files, dtype=torch.float16, force=force)


def build_sample(out_dir: str | os.PathLike = SAMPLE_DIR, force: bool = True,
                 heldout_dir: str | os.PathLike | None = HELDOUT_DIR) -> Path:
    """Synthesise, encode (OGG Vorbis), decode, and compute the MFCCs of the bundled sample (and,
    unless `heldout_dir` is None, of the held-out set)."""
    if heldout_dir is not None:
        _build(sample_entries(heldout=True), heldout_dir, force)
    return _build(sample_entries(), out_dir, force)
