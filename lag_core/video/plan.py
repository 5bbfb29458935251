"""A song plan: the song cut into segments that follow its lyrics, each with its words, its genre
and its MFCC exactly as LAG computes it (the 10 s window around the segment, zero-padded where
the window runs past the song's ends).

Segments follow the lyric timings (LRC, or plain lines spread over the song); without lyrics the
song is cut into LAG's 10 s windows and attention attends over `options.NO_LYRICS` (the genre
and the sound carry the picture).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..audio.mfcc import CLIP_SAMPLES, SAMPLE_RATE, mfcc_lag
from ..errors import InputError
from ..options import MAX_FPS, NO_LYRICS
from .lyrics import TimedLine, timed_lines


@dataclass(frozen=True)
class Segment:
    start: float  # seconds
    end: float
    lyrics: str
    genre: str | None  # None: the sound carries the genre


@dataclass
class SongPlan:
    mono: torch.Tensor  # [T] the song at 22050 Hz, mono
    duration: float  # seconds
    segments: list[Segment]

    def segment_at(self, t: float) -> int:
        """Index of the segment that holds time `t`."""
        for i, seg in enumerate(self.segments):
            if t < seg.end:
                return i
        return len(self.segments) - 1


def _segments_from_lines(lines: list[TimedLine], duration: float) -> list[Segment]:
    segments = []
    words = next(line.text for line in lines if line.text)  # the intro and leading breaks take the first words
    for i, line in enumerate(lines):
        words = line.text or words
        start = 0.0 if i == 0 else line.time
        end = lines[i + 1].time if i + 1 < len(lines) else duration
        if end > start:
            segments.append(Segment(start, end, words, line.genre))
    return segments


def plan_song(mono: torch.Tensor, lyrics: str | None = None, genre: str | None = None, source: str = "lyrics") -> SongPlan:
    """`mono` `[T]` at 22050 Hz (audio.io.to_mono_22050), lyrics (LRC, plain lines or None), and a genre
    for every segment (None: each segment's `[genre:...]` tag, else the sound alone)."""
    duration = mono.shape[-1] / SAMPLE_RATE
    lines = timed_lines(lyrics, duration, source)
    if lines is None:
        count = max(1, round(duration / 10))
        segments = [Segment(duration * i / count, duration * (i + 1) / count, NO_LYRICS, None) for i in range(count)]
    else:
        segments = _segments_from_lines(lines, duration)
    genre = (genre or "").strip().lower() or None
    if genre is not None:
        segments = [Segment(s.start, s.end, s.lyrics, genre) for s in segments]
    return SongPlan(mono.reshape(-1).float(), duration, segments)


def segment_windows(plan: SongPlan, which=None) -> torch.Tensor:
    """The 10 s of audio around each segment's middle (of the segments `which`, default all),
    zero-padded at the song's ends `[S, 220500]`."""
    half, total = CLIP_SAMPLES // 2, plan.mono.shape[-1]
    segments = plan.segments if which is None else [plan.segments[i] for i in which]
    windows = []
    for s in segments:  # each window cut and padded on its own: a long song is never copied whole
        lo = int(round((s.start + s.end) / 2 * SAMPLE_RATE)) - half
        part = plan.mono[max(lo, 0) : max(0, min(lo + CLIP_SAMPLES, total))]
        windows.append(torch.nn.functional.pad(part, (max(0, -lo), CLIP_SAMPLES - part.shape[-1] - max(0, -lo))))
    return torch.stack(windows)  # [S, 220500]


def segment_mfccs(plan: SongPlan, device=None, which=None) -> torch.Tensor:
    """LAG MFCC of the window of every segment (or of the segments `which`) `[S, 128, 431]`."""
    windows = segment_windows(plan, which)
    return mfcc_lag(windows if device is None else windows.to(device)).cpu()


def check_length(duration: float, fps: float) -> None:
    if duration * fps < 1:
        raise InputError(f"the audio lasts {duration:.3f} s, shorter than one frame at {fps} fps; give a longer song"
                         + (" or a higher fps" if duration * MAX_FPS >= 1 else ""))
