"""One image from prompts and/or a song: the job behind `lag generate`, usable from Python.

    job = GenerateJob(out="song.png", song=SongSpec(entry="sample:3"))
    summary = generate(job)

Everything that needs no model is checked before any model loads.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .options import DEFAULT_PRESET, SamplerConfig


@dataclass
class SongSpec:
    """A song as a user names it: an entry of a dataset and/or typed lyrics, a genre, an audio file."""

    entry: str | None = None  # DATASET:INDEX or DATASET:fileName
    lyrics: str | None = None  # overrides the entry's
    genre: str | None = None  # overrides the entry's
    no_genre: bool = False  # leave the genre out of the query (the audio carries it)
    audio: str | None = None  # an audio file, instead of the entry's MFCC (its first 10 s)
    attention: str | None = None  # attention weights (a name or file); default: the preset's
    weight: float = 1.0  # weight of the song among the targets


@dataclass
class GenerateJob:
    out: str | os.PathLike
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    prompts: list[str] = field(default_factory=list)  # "text[:weight]"
    image_prompts: list[str] = field(default_factory=list)  # "FILE[:weight]"
    song: SongSpec | None = None
    init_image: str | None = None
    vqgan: str | None = None  # with clip: real weights instead of the preset's
    clip: str | None = None
    preset: str | None = None  # default: options.DEFAULT_PRESET
    download: bool = False  # allow fetching CLIP weights for ARCH:TAG
    device: str = "auto"
    frames_dir: str | os.PathLike | None = None  # where kept frames are written (needs sampler.save_every)


def split_weight(spec: str) -> tuple[str, float]:
    """`FILE[:weight]` -> (file, weight); a path that exists is taken whole."""
    head, sep, tail = spec.rpartition(":")
    if sep and head and not Path(spec).exists():
        try:
            return head, float(tail)
        except ValueError:
            raise InputError(f"image prompt weight must be a number, found '{tail}' in '{spec}'") from None
    return spec, 1.0


def make_models(vqgan: str | None, clip: str | None, preset: str | None, device, allow_download: bool = False):
    """Both of `vqgan` and `clip` (names, files or specs), or the preset's."""
    from .models import make_clip, make_preset, make_vqgan

    if vqgan or clip:
        if not (vqgan and clip):
            raise InputError("give both --vqgan and --clip, or neither (and a --preset)")
        return make_vqgan(vqgan, device), make_clip(clip, device, allow_download=allow_download)
    return make_preset(preset or DEFAULT_PRESET, device)


def song_of(spec: SongSpec):
    """The `Song` a spec names (lyrics, genre, MFCC), before any model is loaded."""
    from .song import Song

    lyrics, genre, mfcc = spec.lyrics, spec.genre, None
    if spec.entry:
        from .data.dataset import open_entry
        from .song import song_from_entry

        entry = song_from_entry(*open_entry(spec.entry))
        lyrics, genre, mfcc = lyrics or entry.lyrics, genre or entry.genre, entry.mfcc
    if not lyrics:
        raise InputError("a song needs lyrics: give --entry DATASET:INDEX or --lyrics TEXT")
    if spec.audio:
        from .audio.io import audio_to_mfcc, load_audio
        from .audio.mfcc import CLIP_SAMPLES, SAMPLE_RATE

        # Only what is used: the first 10 s (and a second more, so resampling has no edge inside them).
        mfcc = audio_to_mfcc(load_audio(spec.audio, seconds=CLIP_SAMPLES / SAMPLE_RATE + 1))[0]
    return Song(lyrics, None if spec.no_genre else genre, mfcc)


def generate(job: GenerateJob, callback=None) -> dict:
    """Run the job; writes `job.out` (and the frames) atomically. `callback(step, total, info)`."""
    from .device import resolve_device
    from .imageio import load_image, save_png
    from .prompts import Targets, image_targets, text_targets
    from .safeload import check_output
    from .sampler import sample_vqgan_clip

    cfg = dataclasses.replace(job.sampler, keep_frames=False)  # frames stream to frames_dir: none held in memory
    song = job.song
    if not job.prompts and not job.image_prompts and song is None:
        raise InputError("the prompt list is empty; give at least one --prompt 'text[:weight]', --image-prompt FILE, "
                         "or a song with --entry DATASET:INDEX (or --lyrics TEXT --genre G)")
    if song is not None and not song.attention and (job.vqgan or job.clip):
        raise InputError("with --vqgan/--clip, a song needs --attention FILE trained for that CLIP (`lag train --clip ...`)")
    if cfg.save_every and not job.frames_dir:
        raise InputError("--save-every needs --frames-dir DIR to write the frames to")
    check_output(job.out, "--out")
    if job.frames_dir:
        check_output(job.frames_dir, "--frames-dir", folder=True)
    if cfg.steps <= 0:
        cfg.validate()
    image_specs = [split_weight(s) for s in job.image_prompts]
    prompt_images = [load_image(path) for path, _ in image_specs]
    init_image = load_image(job.init_image)[None] if job.init_image else None
    the_song = song_of(song) if song is not None else None
    device = resolve_device(job.device)
    vqgan, clip = make_models(job.vqgan, job.clip, job.preset, device, job.download)
    cfg.validate(vqgan.downsample_factor)
    parts = []
    if job.prompts:
        parts.append(text_targets(clip, job.prompts))
    if prompt_images:
        parts.append(image_targets(clip, prompt_images, [w for _, w in image_specs], [p for p, _ in image_specs]))
    if the_song is not None:
        from .models import make_attention
        from .song import song_targets

        loaded = make_attention(song.attention or job.preset or DEFAULT_PRESET, clip, device)
        parts.append(song_targets(the_song, loaded, clip, song.weight).targets)
    targets = Targets.cat(parts)
    frames_dir = Path(job.frames_dir) if job.frames_dir else None
    written: list[Path] = []

    def on_step(step, total, info):
        if callback is not None:
            callback(step, total, info)
        if frames_dir is not None and "frame" in info:
            written.append(save_png(info["frame"], frames_dir / f"frame_{info.get('frame_step', step):05d}.png"))

    result = sample_vqgan_clip(vqgan, clip, targets, cfg, init_image=init_image, callback=on_step)
    out = save_png(result.image, job.out)
    return {
        "out": str(out),
        "steps": result.steps,
        "seconds": round(result.seconds, 3),
        "total_steps": cfg.total_steps(),  # optimiser steps, the starts' trials included
        "it_per_s": round(cfg.total_steps() / result.seconds, 3),
        "starts": cfg.starts(),
        "start": result.start,
        "loss_first": result.losses[0],
        "loss_last": result.losses[-1],
        "size": [cfg.width, cfg.height],
        "seed": cfg.seed,
        "device": str(device),
        "frames": len(written),
    }
