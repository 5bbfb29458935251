"""A song plan -> video frames with VQGAN-CLIP (after the classic VQGAN-CLIP animation notebooks and
music2video: each frame continues the last).

Every segment's conditioning comes from `song.song_targets` (its words, genre and MFCC). Frame 0
is a cold start (`SamplerConfig.steps` from `SamplerConfig.init`); every later optimised frame
warm-starts from the previous one's latent, moved by the camera motion, for `steps_per_frame`
steps towards a target that slides (slerp, smoothstep) from one segment's conditioning to the
next over `transition` seconds around each boundary. A boundary whose two conditionings are far apart
(cosine under `scene_cut`: a verse turning into a chorus of another genre), or one where the song returns
to an earlier scene's look (`scene_starts`), starts a new scene: the
next segment's look is made by a cold start of its own, and the frames across the boundary start
from the running latent blended (smoothstep, over the same `transition`) into that one, so the
picture dissolves into the new scene instead of dragging the old one's background along (warm
frames hold a look: a few steps each do not turn a dark picture light). A new scene whose look an earlier
scene already had (a chorus coming back, `scene_sources`) dissolves into that scene's latent instead of a
cold start of its own: the chorus looks as it did, and costs no more cold starts. Audio reactivity scales each optimised
frame's learning rate by its onset strength and its motion by its loudness (`reactive.drive`).
With `inbetween` = n, n frames between two optimised ones are decoded from linearly interpolated
latents: no optimisation.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import torch

from ..errors import InputError
from ..options import SamplerConfig, VideoConfig
from ..prompts import Targets
from .motion import move_latent
from .plan import SongPlan, check_length, segment_mfccs
from .reactive import drive, frame_features
from .store import FrameStore

MFCC_CHUNK = 32  # segments whose 10 s windows are in memory at once (a song may have thousands of lines)


@dataclass
class VideoFrames:
    frames: torch.Tensor | None  # [F, H, W, 3] (None with a store and keep off)
    times: torch.Tensor  # [F] seconds into the song
    keys: list[int]  # indexes of the optimised frames
    segments: list[int]  # [F] segment of each frame
    drive: torch.Tensor  # [F] each frame's learning rate over the set one (onset strength)
    motion: torch.Tensor  # [F] each frame's motion over the set one (loudness)
    onset: torch.Tensor  # [F]
    rms: torch.Tensor  # [F]
    seconds_optimised: float  # wall time spent in optimised frames (this run)
    seconds_inbetween: float  # wall time spent decoding in-between frames (this run)
    optimised: int  # frames optimised in this run
    interpolated: int  # in-between frames decoded in this run
    resumed: int  # frames found ready in the store


def frame_times(plan: SongPlan, video: VideoConfig) -> torch.Tensor:
    """Start time of every frame `[F]`: from `start` for `duration` (0: to the end), at `fps`."""
    check_length(plan.duration, video.fps)
    if video.start >= plan.duration:
        raise InputError(f"start {video.start} s is past the end of the audio ({plan.duration:.2f} s)")
    end = plan.duration if not video.duration else min(plan.duration, video.start + video.duration)
    count = int(math.floor((end - video.start) * video.fps + 1e-9))
    if count < 1:
        raise InputError(f"{end - video.start:.3f} s of audio is shorter than one frame at {video.fps} fps")
    return video.start + torch.arange(count, dtype=torch.float64) / video.fps


def key_frames(count: int, inbetween: int) -> list[int]:
    """Indexes of the optimised frames: every (inbetween + 1)-th, and the last."""
    keys = list(range(0, count, inbetween + 1))
    return keys if keys[-1] == count - 1 else [*keys, count - 1]


def segment_conditionings(plan: SongPlan, loaded, clip, device=None) -> torch.Tensor:
    """Each segment's conditioning through lyric attention `[S, D]` (song.song_targets: one path)."""
    from ..song import Song, song_targets

    rows = []
    for first in range(0, len(plan.segments), MFCC_CHUNK):  # a few at a time: 10 s of audio each
        mfccs = segment_mfccs(plan, device, range(first, min(first + MFCC_CHUNK, len(plan.segments))))  # [s, 128, 431]
        rows += [song_targets(Song(seg.lyrics, seg.genre, mfccs[k]), loaded, clip).targets.embeds[0]
                 for k, seg in enumerate(plan.segments[first : first + MFCC_CHUNK])]
    return torch.stack(rows)  # [S, D], unit rows


def _slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    omega = torch.arccos((a * b).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    if float(omega) < 1e-4:
        return a + (b - a) * t
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def _smoothstep(u: float) -> float:
    u = min(1.0, max(0.0, u))
    return u * u * (3 - 2 * u)


def _segments_at(plan: SongPlan, t: float, transition: float) -> tuple[int, tuple[int, int] | None, float]:
    """The segment at `t`, and the pair of segments its target slides between (with how far) when `t` is
    within `transition / 2` of a boundary, else None."""
    i = plan.segment_at(t)
    seg, half = plan.segments[i], transition / 2
    if half > 0 and i + 1 < len(plan.segments) and t > seg.end - half:
        return i, (i, i + 1), (t - (seg.end - half)) / transition
    if half > 0 and i > 0 and t < seg.start + half:
        return i, (i - 1, i), (t - (seg.start - half)) / transition
    return i, None, 0.0


def target_at(plan: SongPlan, conds: torch.Tensor, t: float, transition: float) -> Targets:
    """The target at time `t`: a segment's conditioning, or on the way (slerp, smoothstep) to the next
    within `transition / 2` seconds of a boundary."""
    i, pair, u = _segments_at(plan, t, transition)
    if pair is None:
        return Targets.from_embeddings(conds[i], label=f"segment {i}")
    return Targets.from_embeddings(_slerp(conds[pair[0]], conds[pair[1]], _smoothstep(u)), label=f"segments {pair[0]}->{pair[1]}")


RETURN_MARGIN = 0.1  # a segment this much nearer (cosine) to an earlier scene's start than to its predecessor returns to it


def scene_starts(conds: torch.Tensor, threshold: float) -> list[int]:
    """Segments (after the first) that start a new scene: their conditioning's cosine to the previous
    segment's is below `threshold`, or (a song returning to a look it had: a chorus line after a
    bridge line) it is nearer, by `RETURN_MARGIN`, to the start of an earlier scene than to the
    previous segment's; a warm path from the look in between may not find the way back (sun yellow
    does not turn into ocean blue in a few steps a frame). `threshold` -1: never. `conds [S, D]`, unit rows."""
    if threshold <= -1:
        return []
    starts = [0]
    for i in range(1, conds.shape[0]):
        to_previous = float(conds[i] @ conds[i - 1])
        to_scene = max(float(conds[i] @ conds[s]) for s in starts if s < i - 1) if any(s < i - 1 for s in starts) else -1.0
        if to_previous < threshold or to_scene > to_previous + RETURN_MARGIN:
            starts.append(i)
    return starts[1:]


SAME_LOOK = 0.9  # a new scene whose conditioning is this near (cosine) to an earlier scene's start has its look


def scene_sources(conds: torch.Tensor, scenes: list[int]) -> dict[int, int]:
    """New scenes (`scene_starts`) that come back to a look made before: segment -> the earlier scene
    whose latent it reuses (the nearest scene start at a cosine of at least `SAME_LOOK`; segment 0 starts
    the first scene). A scene that reuses a look makes none, so every source is a scene whose look was made."""
    made: list[int] = [0]
    sources = {}
    for i in scenes:
        cos = conds[made] @ conds[i]  # [M]
        best = int(cos.argmax())
        if float(cos[best]) >= SAME_LOOK:
            sources[i] = made[best]
        else:
            made.append(i)
    return sources


def scene_blend(plan: SongPlan, scenes: list[int], t_prev: float, t: float, transition: float) -> tuple[int, float] | None:
    """The scene a frame at `t` dissolves into, after a frame at `t_prev`: `(segment, weight)` when `t`
    is in or past the scene's window (`transition / 2` either side of its boundary) and `t_prev` was
    before the window's end; the weight is smoothstep over the window, 1 past it. None otherwise."""
    half = transition / 2
    for i in scenes:
        lo, hi = plan.segments[i].start - half, plan.segments[i].start + half
        if t_prev >= hi or t < lo or (half > 0 and t == lo):
            continue
        return i, 1.0 if t >= hi else _smoothstep((t - lo) / transition)
    return None


def scene_latent(vqgan, clip, conds: torch.Tensor, i: int, cfg: SamplerConfig, callback=None) -> torch.Tensor:
    """The latent a scene starting at segment `i` dissolves into: a cold start of its conditioning,
    seeded from `cfg.seed` and `i` (a resumed render makes the same one). `callback` is the
    sampler's, called after every step."""
    from ..sampler import sample_vqgan_clip

    scene_cfg = dataclasses.replace(cfg, seed=cfg.seed + 7919 * i, save_every=0)
    targets = Targets.from_embeddings(conds[i], label=f"segment {i}")
    return sample_vqgan_clip(vqgan, clip, targets, scene_cfg, callback=callback).latent


def check_frame_memory(count: int, cfg: SamplerConfig) -> None:
    from ..memory import format_bytes, physical_memory_bytes

    needed, limit = count * cfg.width * cfg.height * 3 * 4, physical_memory_bytes() // 4
    if needed > limit:
        raise InputError(f"{count} frames of {cfg.width}x{cfg.height} need {format_bytes(needed)} of memory, more than "
                         f"a quarter of this machine's ({format_bytes(limit)}); render a shorter part (duration), a lower fps "
                         "or a smaller size")


def render_video(vqgan, clip, plan: SongPlan, conds: torch.Tensor, cfg: SamplerConfig, video: VideoConfig, *,
                 store: FrameStore | None = None, keep: bool = True, callback=None) -> VideoFrames:
    """Render every frame of `plan` (see the module docstring). With a `store`, frames and optimised
    latents are written as they are made and ones already there are reused (a resumed render).
    `callback(frame, total, info)` after every optimised frame (and the in-betweens before it), with
    `info["image"]` `[1, H, W, 3]` and `info["segment"]`; raising in it stops the render. Cold starts
    (the first frame, a new scene's latent: many steps each) also call it after each of their steps,
    with the frame count not advanced and no image, so that a Cancel stops them within a step."""
    from ..sampler import render_latent, sample_vqgan_clip

    video.validate()
    cfg.validate(vqgan.downsample_factor)
    times = frame_times(plan, video)
    count = len(times)
    if keep:
        check_frame_memory(count, cfg)
    keys = key_frames(count, video.inbetween)
    onset, rms = frame_features(plan.mono, times, video.fps)
    drives, moves = drive(onset, video.reactivity), drive(rms, video.reactivity)
    segments = [plan.segment_at(float(t)) for t in times]
    frames = torch.empty((count, cfg.height, cfg.width, 3)) if keep else None
    stats = {"opt": 0.0, "inb": 0.0, "optimised": 0, "interpolated": 0, "resumed": 0}
    scenes = scene_starts(conds, video.scene_cut)
    sources = scene_sources(conds, scenes)
    last_return = {s: i for i, s in sources.items()}  # a look -> the last scene that comes back to it
    first, pair, _ = _segments_at(plan, float(times[keys[0]]), video.transition)
    first_look = None if pair is not None else sources.get(first, first)  # the look the first frame has, if one alone
    looks: dict[int, torch.Tensor] = {}  # scene -> the latent its frames dissolve into, made when first needed
    z_prev, prev_key, first_latent = None, None, None

    def look(i: int) -> torch.Tensor:
        """Scene `i`'s latent: the look it returns to, or a cold start of its own. The render's first frame
        is the look of the scene it starts in when it starts in that scene's first segment, not on the way
        between two segments (a render that starts further on makes the look cold when a scene returns to it). A look is
        kept while frames dissolve into it and until the last scene that comes back to it (a long song's
        scenes do not pile up in memory)."""
        s = sources.get(i, i)
        if s not in looks:
            looks[s] = first_latent if s == first_look else scene_latent(vqgan, clip, conds, s, cfg, cold_callback)
        for other in [o for o in looks if o != s and last_return.get(o, -1) <= i]:
            del looks[other]
        return looks[s]

    def within(step: int, total: int, info: dict) -> None:  # a cold start's step: the count stays where it is
        callback(0 if prev_key is None else prev_key + 1, count, {})

    cold_callback = within if callback is not None else None
    for key in keys:
        t = float(times[key])
        z = store.latent(key) if store is not None else None
        image = None
        if z is None:
            start = time.perf_counter()
            targets = target_at(plan, conds, t, video.transition)
            if z_prev is None:
                result = sample_vqgan_clip(vqgan, clip, targets, cfg, callback=cold_callback)
            else:
                d = float(drives[key])
                dt = (key - prev_key) / video.fps * float(moves[key])  # seconds of motion, driven by loudness
                z_start = move_latent(vqgan, z_prev.to(next(vqgan.parameters()).device), (1 + video.zoom) ** dt,
                                      video.rotate * dt, video.translate_x * dt, video.translate_y * dt)
                blend = scene_blend(plan, scenes, float(times[prev_key]), t, video.transition)
                if blend is not None:
                    i, weight = blend
                    z_start = torch.lerp(z_start, look(i).to(z_start.device), weight)
                step_cfg = dataclasses.replace(cfg, steps=video.steps_per_frame, lr=cfg.lr * d, seed=cfg.seed + key,
                                               save_every=0)
                result = sample_vqgan_clip(vqgan, clip, targets, step_cfg, init_latent=z_start)
            z, image = result.latent, result.image
            if store is not None:
                store.save_latent(key, z)
            stats["opt"] += time.perf_counter() - start
            stats["optimised"] += 1
        start = time.perf_counter()
        for f in range(prev_key + 1 if prev_key is not None else key, key):  # in-betweens: decode only
            if store is not None and store.has_frame(f):
                stats["resumed"] += 1
                if keep:
                    frames[f] = store.load_frame(f)[0]
                continue
            u = (f - prev_key) / (key - prev_key)
            between = render_latent(vqgan, torch.lerp(z_prev, z, u).to(next(vqgan.parameters()).device))
            if store is not None:
                store.save_frame(f, between)
            if keep:
                frames[f] = between[0]
            stats["interpolated"] += 1
        stats["inb"] += time.perf_counter() - start
        if store is not None and store.has_frame(key) and image is None:
            stats["resumed"] += 1
            image = store.load_frame(key) if keep or callback is not None else None
        else:
            if image is None:  # a latent saved before a kill, its PNG not yet
                image = render_latent(vqgan, z.to(next(vqgan.parameters()).device))
            if store is not None:
                store.save_frame(key, image)
        if keep:
            frames[key] = image[0]
        if callback is not None:
            callback(key + 1, count, {"image": image, "segment": segments[key], "time": t})
        z_prev, prev_key = z.float().cpu(), key
        if key == keys[0]:
            first_latent = z_prev
    return VideoFrames(frames, times.float(), keys, segments, drives, moves, onset, rms, stats["opt"], stats["inb"],
                       stats["optimised"], stats["interpolated"], stats["resumed"])
