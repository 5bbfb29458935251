"""Audio files <-> ComfyUI's AUDIO layout `{"waveform": [B, C, T], "sample_rate": int}`.

Decoding is soundfile (libsndfile: WAV, FLAC, OGG, MP3, no ffmpeg); resampling is soxr.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..safeload import atomic_path
from .mfcc import CLIP_SAMPLES, SAMPLE_RATE


def _decode_error(path: Path, exc: Exception) -> InputError:
    msg = " ".join(str(exc).split())[:160]
    return InputError(f"'{path}' could not be decoded as audio ({type(exc).__name__}: {msg}); give a WAV, FLAC, OGG or MP3 file")


def _open(path: Path):
    import soundfile as sf

    if path.is_dir():
        raise InputError(f"audio file '{path}' is a folder; give a WAV, FLAC, OGG or MP3 file")
    if not path.is_file():
        raise InputError(f"audio file '{path}' does not exist")
    if path.stat().st_size == 0:
        raise InputError(f"audio file '{path}' is empty; give a WAV, FLAC, OGG or MP3 file with sound in it")
    try:
        return sf.SoundFile(str(path))
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types
        raise _decode_error(path, exc) from None


def audio_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """(frames, sample rate, channels) from the header, without decoding the audio."""
    with _open(Path(path)) as f:
        return int(f.frames), int(f.samplerate), int(f.channels)


def load_audio(path: str | os.PathLike, start: float = 0.0, seconds: float | None = None, *,
               max_bytes: int | None = None) -> dict:
    """Decode a file, or only `seconds` of it from `start` (a 10 s window of a 6-hour file reads
    10 s, not 6 hours) -> `{"waveform": [1, C, T] float32, "sample_rate": int}`. A whole decode
    larger than `max_bytes` (default: a quarter of this machine's memory) is refused before it starts."""
    from ..memory import format_bytes, physical_memory_bytes

    path = Path(path)
    with _open(path) as f:
        sr, channels, total = int(f.samplerate), int(f.channels), int(f.frames)
        first = min(max(0, int(round(start * sr))), total)
        count = total - first if seconds is None else min(total - first, max(0, int(round(seconds * sr))))
        needed = count * channels * 4
        limit = physical_memory_bytes() // 4 if max_bytes is None else max_bytes
        if needed > limit:
            raise InputError(f"audio file '{path}' is {total / sr / 3600:.1f} h long: decoding {count / sr:.0f} s of it "
                             f"needs {format_bytes(needed)} of memory, more than the {format_bytes(limit)} allowed; "
                             "trim the file to the part you use")
        try:
            if first:
                f.seek(first)
            data = f.read(count, dtype="float32", always_2d=True)  # [T, C]
        except Exception as exc:  # noqa: BLE001 - libsndfile raises several types
            raise _decode_error(path, exc) from None
    if data.shape[0] == 0:
        raise InputError(f"audio file '{path}' decodes to 0 samples; give a file with sound in it")
    if not np.isfinite(data).all():
        raise InputError(f"audio file '{path}' contains NaN or infinite samples")
    waveform = torch.from_numpy(np.ascontiguousarray(data.T))[None]  # [1, C, T]
    return {"waveform": waveform, "sample_rate": int(sr)}


def save_audio(audio: dict, path: str | os.PathLike, subtype: str | None = None) -> Path:
    """Write the first item of an AUDIO dict atomically; the format follows the suffix."""
    import soundfile as sf

    path = Path(path)
    wave = audio["waveform"]
    if wave.ndim == 3:
        wave = wave[0]
    data = wave.detach().float().cpu().numpy().T  # [T, C]
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot write audio as '{path.suffix}'; use .wav, .flac, .ogg or .mp3")
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data, int(audio["sample_rate"]), format=fmt, subtype=subtype)
    return path


def check_audio(audio) -> tuple[torch.Tensor, int]:
    """Validate an AUDIO dict (ours or ComfyUI's) -> (waveform [B, C, T], sample_rate)."""
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise InputError(
            f"expected AUDIO as {{'waveform': [B, C, T], 'sample_rate': int}}, found {type(audio).__name__}"
        )
    wave = audio["waveform"]
    if not torch.is_tensor(wave):
        wave = torch.as_tensor(np.asarray(wave))
    if wave.ndim == 1:
        wave = wave[None, None]
    elif wave.ndim == 2:
        wave = wave[None]
    if wave.ndim != 3 or wave.shape[-1] == 0:
        raise InputError(f"AUDIO waveform must be [B, C, T] with T > 0, found shape {tuple(wave.shape)}")
    return wave.float(), int(audio["sample_rate"])


def to_mono_22050(audio) -> torch.Tensor:
    """AUDIO -> mono float32 `[B, T]` at 22050 Hz (channels averaged, soxr resampling)."""
    wave, sr = check_audio(audio)
    mono = wave.mean(dim=1)  # [B, T]
    if sr != SAMPLE_RATE:
        import soxr

        arr = mono.detach().cpu().numpy().T  # [T, B]
        res = soxr.resample(np.ascontiguousarray(arr), sr, SAMPLE_RATE, quality="HQ")
        mono = torch.from_numpy(np.ascontiguousarray(np.asarray(res, dtype=np.float32).reshape(res.shape[0], -1).T))
    return mono


WINDOWS = ("first", "middle", "split")


def clips_10s(mono: torch.Tensor, mode: str = "first") -> torch.Tensor:
    """`[B, T]` -> 10 s clips, zero-padded where the audio is shorter:

    * `first`: the first 10 s of each item, `[B, 220500]`;
    * `middle`: the 10 s around the middle of each item, `[B, 220500]`;
    * `split`: every item cut into consecutive clips, `[B * n, 220500]`.
    """
    if mode not in WINDOWS:
        raise InputError(f"unknown segment mode '{mode}'; expected one of {', '.join(WINDOWS)}")
    b, t = mono.shape
    if mode == "split":
        n = max(1, -(-t // CLIP_SAMPLES))
        padded = torch.nn.functional.pad(mono, (0, n * CLIP_SAMPLES - t))
        return padded.reshape(b * n, CLIP_SAMPLES)  # [B*n, 220500]
    start = max(0, (t - CLIP_SAMPLES) // 2) if mode == "middle" else 0
    window = mono[:, start : start + CLIP_SAMPLES]
    return torch.nn.functional.pad(window, (0, CLIP_SAMPLES - window.shape[1]))  # [B, 220500]


def audio_to_mfcc(audio, mode: str = "first", device=None) -> torch.Tensor:
    """AUDIO -> LAG MFCC `[N, 128, 431]` of the 10 s clips `mode` picks (see `clips_10s`)."""
    from .mfcc import mfcc_lag

    clips = clips_10s(to_mono_22050(audio), mode)
    if device is not None:
        clips = clips.to(device)
    return mfcc_lag(clips)
