"""The bundled LAG-format sample: 24 entries (6 per genre) with lyric lines written for this
project (no copyrighted lyrics) and audio synthesised by `synth.py`.

Rebuild it with `lag data build-sample` (deterministic: the same files every time, up to the OGG
encoder). The MFCCs are computed from the decoded OGG files, as a user's audio would be.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..options import GENRES
from .dataset import SAMPLE_DIR, write_dataset
from .entries import LAGEntry

LYRICS = {
    "metal": [
        "Iron wings tear through the burning sky",
        "We march beneath a blackened sun",
        "Chains of thunder break the silent throne",
        "Ashes fall where the old gods died",
        "Steel and fire forge the final dawn",
        "Screaming voices in the frozen dark",
    ],
    "pop": [
        "Dancing in the kitchen with the radio on",
        "You light me up like summer in July",
        "Sugar hearts and candy skies tonight",
        "Hold my hand and spin me round again",
        "Every color feels brighter when you smile",
        "We sing along to every song we know",
    ],
    "rnb": [
        "Slow down baby let the night hold us close",
        "Velvet whispers underneath the purple light",
        "Your love moves like water in the moonlight",
        "Candles low and the rain against the glass",
        "I feel your heartbeat in the quiet of the room",
        "Midnight honey melting on my lips",
    ],
    "rap": [
        "Gold chains swinging as I run this block",
        "Concrete kingdom where the hustle never stops",
        "Counting every blessing on the late night train",
        "Mic in my hand and the crowd in my palm",
        "From the bottom of the city to the top floor view",
        "Bass knocking hard through the streets at night",
    ],
}


def sample_entries() -> list[tuple[LAGEntry, int]]:
    out = []
    for g, genre in enumerate(GENRES):
        for i, line in enumerate(LYRICS[genre]):
            name = f"sample_{genre}_{i}"
            out.append((LAGEntry(name, line, genre, g, audio=f"{name}.ogg"), 1000 * g + i))
    return out


def build_sample(out_dir: str | os.PathLike = SAMPLE_DIR, force: bool = True) -> Path:
    """Synthesise, encode (OGG Vorbis), decode, and compute the MFCCs of the bundled sample."""
    import soundfile as sf

    from ..audio.io import audio_to_mfcc, load_audio
    from .synth import synth_clip

    entries, audio_files, mfccs = [], {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for entry, seed in sample_entries():
            path = Path(tmp) / entry.audio
            sf.write(str(path), synth_clip(entry.genre, seed), 22050, format="OGG", subtype="VORBIS")
            mfccs.append(audio_to_mfcc(load_audio(path))[0])
            entries.append(entry)
            audio_files[entry.audio] = path
        mfcc = torch.stack(mfccs).numpy().astype(np.float32)
        return write_dataset(out_dir, entries, mfcc, audio_files, dtype=torch.float16, force=force)
