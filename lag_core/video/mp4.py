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


def check_output_path(path: str | os.PathLike, suffix: str = ".mp4") -> Path:
    """Refuse, before any work, an output whose folder is missing or not writable."""
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise InputError(f"the output must be a {suffix} file, found '{path}'")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"the output folder '{folder}' does not exist; create it or choose another --out")
    try:  # a real write: permission bits say nothing to root, nor on a read-only mount
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError:
        raise InputError(f"the output folder '{folder}' is not writable; choose another --out") from None
    if path.is_dir():
        raise InputError(f"the output '{path}' is a folder; give a file name ending in {suffix}")
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
                    sound = _add_audio(container, audio)
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
                _write_audio(container, sound, audio, count / float(rate))
    return path


def _as_uint8(frame) -> np.ndarray:
    if torch.is_tensor(frame):
        from ..imageio import to_uint8

        return to_uint8(frame)
    return np.ascontiguousarray(np.asarray(frame, dtype=np.uint8))


def _add_audio(container, audio):
    if audio is None:
        return None
    from ..audio.io import check_audio

    wave, sr = check_audio(audio)
    layout = "mono" if wave.shape[1] == 1 else "stereo"
    stream = container.add_stream("aac", rate=sr)
    stream.layout = layout
    return stream


def _write_audio(container, stream, audio, seconds: float) -> None:
    import av

    from ..audio.io import check_audio

    wave, sr = check_audio(audio)
    data = wave[0, :2].clamp(-1, 1).numpy().astype(np.float32)  # [C, T]
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
