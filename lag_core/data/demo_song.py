"""The bundled song for `lag video`: 40 s whose genre and words change, a metal verse about fire
then a pop chorus about the ocean, synthesised (`synth.py`) and timed in an LRC file whose
`[genre:...]` tags say each part's genre. Regenerate with `lag data build-song`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .synth import SR, synth_clip

SONG_DIR = Path(__file__).resolve().parent / "songs"
SONG_NAME = "fire_and_ocean"
SECTIONS = (("metal", 71), ("metal", 72), ("pop", 73), ("pop", 74))  # (genre, seed): 10 s each
CROSSFADE = 0.25  # seconds between sections

LRC = """\ufeff[ti:Fire and Ocean]
[ar:comfyui-lag synth]
[length:00:40.00]
[genre:metal]
[00:00.50]Fire in the iron sky, the furnace wakes
[00:05.00]Burning steel and embers rise
[00:10.00]Flames across the mountain, ashes in the wind
[00:15.00]The fire will not die tonight
[genre:pop]
[00:20.00]Ocean blue, the waves roll in
[00:25.00]Sunlight on the water, we are free
[00:30.00][00:35.00]Dancing on the shore, the ocean sings with me
"""


def synth_song() -> np.ndarray:
    """The song: each section's 10 s clip, crossfaded, mono float32 at 22050 Hz."""
    fade = int(CROSSFADE * SR)
    out = synth_clip(*SECTIONS[0])
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    for genre, seed in SECTIONS[1:]:
        clip = synth_clip(genre, seed)
        head = out[-fade:] * (1 - ramp) + clip[:fade] * ramp
        out = np.concatenate([out[:-fade], head, clip[fade:]])
    pad = np.zeros(len(SECTIONS) * 10 * SR - len(out), dtype=np.float32)  # back to whole sections
    return np.concatenate([out, pad]).astype(np.float32)


def build_demo_song(out_dir: str | os.PathLike = SONG_DIR) -> tuple[Path, Path]:
    """Write `fire_and_ocean.ogg` and `fire_and_ocean.lrc` (atomically)."""
    import soundfile as sf

    from ..safeload import atomic_path

    out_dir = Path(out_dir)
    audio, lyrics = out_dir / f"{SONG_NAME}.ogg", out_dir / f"{SONG_NAME}.lrc"
    with atomic_path(audio) as tmp:
        sf.write(str(tmp), synth_song(), SR, format="OGG", subtype="VORBIS")
    with atomic_path(lyrics) as tmp:
        tmp.write_text(LRC, encoding="utf-8")
    return audio, lyrics
