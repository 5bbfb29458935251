"""A whole song as a music video: the job behind `lag video`, usable from Python.

    job = VideoJob(song="song.ogg", lyrics="song.lrc", out="song.mp4")
    summary = make_video(job)

Everything that needs no model (output folder, fps, lyrics, audio) is checked before any model
loads, and the frames folder is opened only once the conditionings are made, so bad input leaves
nothing behind. Frames go to `OUT.frames/` (or `frames_dir`) as they are made: a killed render,
re-run with the same arguments, continues from the last finished frame.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..options import DEFAULT_PRESET, SamplerConfig, VideoConfig
from .lyrics import MAX_CHARS


@dataclass
class VideoJob:
    song: str | os.PathLike  # an audio file
    out: str | os.PathLike  # the .mp4
    lyrics: str | os.PathLike | None = None  # an .lrc or plain-text file; None: the sound and genre alone
    genre: str | None = None  # every segment's genre; None: the LRC's [genre:...] tags, else the sound
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    attention: str | None = None  # attention weights (a name or file); default: the preset's
    vqgan: str | None = None
    clip: str | None = None
    preset: str | None = None
    download: bool = False
    device: str = "auto"
    frames_dir: str | os.PathLike | None = None  # default: OUT.frames beside the output
    force: bool = False  # replace an existing `out`


def read_lyrics(path: str | os.PathLike | None) -> str | None:
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise InputError(f"lyrics file '{path}' is a folder; give an .lrc or a text file with one line per lyric line")
    if path.is_file() and path.stat().st_size > 4 * MAX_CHARS:  # UTF-8: at most 4 bytes a character
        raise InputError(f"lyrics file '{path}' is {path.stat().st_size:,} bytes, not lyrics; give the song's lyrics "
                         "as LRC or plain lines")
    if not path.is_file():
        raise InputError(f"lyrics file '{path}' does not exist; give an .lrc or a text file with one line per lyric line")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"lyrics file '{path}' is not UTF-8 text; save it as UTF-8") from None


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def frame_settings(job: VideoJob, lyrics: str | None, models: list[str]) -> dict:
    """What the frames depend on (the MP4's upscale does not): a frames folder keeps them."""
    video = dataclasses.asdict(job.video)
    video.pop("upscale")
    sampler = dataclasses.asdict(job.sampler)
    if sampler["restarts"] == 1:  # one start, as every render before restarts existed: their folders resume
        del sampler["restarts"]
    return {"audio": _file_hash(Path(job.song)), "lyrics": lyrics, "genre": job.genre, "models": models,
            "sampler": sampler, "video": video}


def make_video(job: VideoJob, callback=None) -> dict:
    """Run the job; writes `job.out` atomically and keeps the frames. `callback(frame, total, info)`."""
    import torch

    from ..audio.io import load_audio, to_mono_22050
    from ..audio.mfcc import SAMPLE_RATE
    from ..device import resolve_device
    from ..generate import make_models
    from ..models import make_attention, resolve
    from .mp4 import check_output_path, write_mp4
    from .plan import check_length, plan_song
    from .render import frame_times, render_video, segment_conditionings
    from .store import FrameStore

    out = check_output_path(job.out, inputs=(job.song, job.lyrics, job.attention), force=job.force)
    frames_dir = Path(job.frames_dir) if job.frames_dir else out.with_name(out.name + ".frames")
    if os.path.abspath(frames_dir) == os.path.abspath(out):
        raise InputError(f"--frames-dir '{frames_dir}' is the output itself; give the frames their own folder")
    job.video.validate()
    job.sampler.validate()
    if not job.attention and (job.vqgan or job.clip):
        raise InputError("with --vqgan/--clip, a video needs --attention FILE trained for that CLIP (`lag train --clip ...`)")
    lyrics = read_lyrics(job.lyrics)
    audio = load_audio(job.song)
    mono = to_mono_22050(audio)[0]  # [T] at 22050 Hz
    check_length(mono.shape[-1] / SAMPLE_RATE, job.video.fps)
    plan = plan_song(mono, lyrics, job.genre, source=str(job.lyrics or "lyrics"))
    times = frame_times(plan, job.video)
    device = resolve_device(job.device)
    vqgan, clip = make_models(job.vqgan, job.clip, job.preset, device, job.download)
    job.sampler.validate(vqgan.downsample_factor)
    attention_name = job.attention or job.preset or DEFAULT_PRESET
    loaded = make_attention(attention_name, clip, device)
    conds = segment_conditionings(plan, loaded, clip, device)
    preset = job.preset or DEFAULT_PRESET
    models = [resolve(kind, name or preset).signature for kind, name in (("vqgan", job.vqgan), ("clip", job.clip),
                                                                         ("attention", attention_name))]
    f = vqgan.downsample_factor
    store = FrameStore(frames_dir, frame_settings(job, lyrics, models), frame_size=(job.sampler.height, job.sampler.width),
                       latent_shape=(1, vqgan.cfg.embed_dim, job.sampler.height // f, job.sampler.width // f)).open()
    result = render_video(vqgan, clip, plan, conds, job.sampler, job.video, store=store, keep=False, callback=callback)
    wave, sr = audio["waveform"], audio["sample_rate"]
    first = int(job.video.start * sr)  # the frames' span only: the MP4 is cut to it anyway
    clip_audio = {"waveform": wave[..., first : first + int(len(times) / job.video.fps * sr) + 1], "sample_rate": sr}
    write_mp4((store.load_frame(i)[0] for i in range(len(times))), out, job.video.fps, clip_audio, job.video.upscale)
    frames = len(times)
    optimised_s = result.seconds_optimised / max(1, result.optimised)
    return {
        "out": str(out),
        "frames": frames,
        "fps": job.video.fps,
        "seconds_of_video": round(frames / job.video.fps, 3),
        "segments": len(plan.segments),
        "optimised": result.optimised,
        "interpolated": result.interpolated,
        "resumed": result.resumed,
        "frames_dir": str(frames_dir),
        "s_per_optimised_frame": round(optimised_s, 4),
        "s_per_inbetween_frame": round(result.seconds_inbetween / max(1, result.interpolated), 5),
        "size": [job.sampler.width, job.sampler.height],
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
    }
