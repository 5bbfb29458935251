"""The one MP4 writer (`lag video` and the Save Video (LAG) node): H.264 frames with the song's
audio as AAC, through PyAV (FFmpeg's libraries ship in its wheel; no system ffmpeg). Written
atomically: a temp file beside the target, renamed when complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..safeload import atomic_path

AAC_FRAME = 1024  # samples per AAC frame
# The sample rates AAC has (FFmpeg's encoder refuses others, e.g. 192 kHz): other audio is resampled to 48 kHz.
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def check_output_path(path: str | os.PathLike, suffix: str = ".mp4", *, inputs=(), force: bool = False) -> Path:
    """Refuse, before any work, an output whose folder is missing or not writable, one that is one of
    the `inputs` (files the job reads), and an existing file unless `force`: we replace only what
    the user asked us to."""
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise InputError(f"the output must be a {suffix} file, found '{path}'")
    if path.exists() and not path.is_file():
        raise InputError(f"the output '{path}' exists and is not a regular file (a folder, a pipe, a device); choose another --out")
    if os.path.lexists(path):  # a file, or a link (even a dangling one: the link is the user's too)
        for source in inputs:
            if source is not None and path.is_file() and Path(source).is_file() and os.path.samefile(path, source):
                raise InputError(f"the output '{path}' is also an input of this job ('{source}'); choose another --out")
        if not force:
            raise InputError(f"the output '{path}' exists; pass --force to replace it, or choose another --out")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"the output folder '{folder}' does not exist; create it or choose another --out")
    try:  # a real write: permission bits say nothing to root, nor on a read-only mount
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError:
        raise InputError(f"the output folder '{folder}' is not writable; choose another --out") from None
    return path


def _frame_time_base(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def write_mp4(frames: Iterable, path: str | os.PathLike, fps: float, audio: dict | None = None, upscale: int = 1,
              crf: int = 18) -> Path:
    """Frames (`[H, W, 3]` uint8 arrays or float tensors in 0..1) -> an H.264 MP4 at `fps`, with `audio`
    (`{"waveform": [B, C, T] or [C, T], "sample_rate": int}`, the first item) as AAC, cut to the video's length."""
    import av

    path = Path(path)
    rate = _frame_time_base(fps)
    sound_data = _aac_audio(audio) if audio is not None else None
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            video = None
            count = 0
            for frame in frames:
                pixels = _as_uint8(frame)
                if upscale > 1:
                    pixels = pixels.repeat(upscale, axis=0).repeat(upscale, axis=1)
                if video is None:
                    video = container.add_stream("libx264", rate=rate)
                    video.width, video.height = pixels.shape[1] + pixels.shape[1] % 2, pixels.shape[0] + pixels.shape[0] % 2
                    video.pix_fmt = "yuv420p"
                    video.options = {"crf": str(crf), "preset": "medium"}
                    sound = _add_audio(container, sound_data)
                if pixels.shape[0] % 2 or pixels.shape[1] % 2:  # yuv420p needs even sizes
                    pixels = np.pad(pixels, ((0, pixels.shape[0] % 2), (0, pixels.shape[1] % 2), (0, 0)), mode="edge")
                for packet in video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    container.mux(packet)
                count += 1
            if video is None:
                raise InputError(f"no frames to write to '{path}'")
            for packet in video.encode():
                container.mux(packet)
            if sound is not None:
                _write_audio(container, sound, sound_data, count / float(rate))
    return path


def _as_uint8(frame) -> np.ndarray:
    if torch.is_tensor(frame):
        from ..imageio import to_uint8

        return to_uint8(frame)
    return np.ascontiguousarray(np.asarray(frame, dtype=np.uint8))


def _aac_audio(audio) -> tuple[np.ndarray, int]:
    """`audio` -> its first item's first two channels `[C, T]` float32 in -1..1, at a rate AAC has."""
    from ..audio.io import check_audio

    wave, sr = check_audio(audio)
    data = np.ascontiguousarray(wave[0, :2].clamp(-1, 1).numpy().astype(np.float32))  # [C, T]
    if sr not in AAC_RATES:
        import soxr

        data = np.ascontiguousarray(soxr.resample(data.T, sr, 48000, quality="HQ").T.clip(-1, 1), dtype=np.float32)  # [C, T']
        sr = 48000
    return data, sr


def _add_audio(container, sound):
    if sound is None:
        return None
    data, sr = sound
    stream = container.add_stream("aac", rate=sr)
    stream.layout = "mono" if data.shape[0] == 1 else "stereo"
    return stream


def _write_audio(container, stream, sound, seconds: float) -> None:
    import av

    data, sr = sound
    data = np.ascontiguousarray(data[:, : int(round(seconds * sr))])
    layout = "mono" if data.shape[0] == 1 else "stereo"
    for start in range(0, data.shape[1], AAC_FRAME):
        chunk = np.ascontiguousarray(data[:, start : start + AAC_FRAME])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = sr
        frame.pts = start
        frame.time_base = Fraction(1, sr)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
