"""`lag video`: a whole song as a music video (H.264 MP4 with the song's audio)."""

from __future__ import annotations

import argparse

from ..options import INIT_MODES, OPTIMIZERS, SamplerConfig, VideoConfig
from .generate import add_model_options, add_restarts_option
from .output import emit

V = VideoConfig


def add_parser(sub) -> None:
    p = sub.add_parser("video", help="make a music video of a song: segments follow its lyrics, motion follows its beat")
    p.add_argument("song", metavar="SONG", help="the song's audio file (WAV, FLAC, OGG, MP3)")
    p.add_argument("--lyrics", metavar="FILE", help="timed lyrics (.lrc) or plain lines spread over the song; none: the sound alone")
    p.add_argument("--genre", help="every segment's genre (metal, pop, rnb, rap); default: the LRC's [genre:...] tags, else the sound")
    p.add_argument("--attention", metavar="FILE", help="lyric attention weights (default: the preset's)")
    p.add_argument("--fps", type=float, default=V.fps, help="frames per second")
    p.add_argument("--steps-per-frame", type=int, default=V.steps_per_frame, help="warm-start steps of each optimised frame")
    p.add_argument("--first-steps", type=int, default=SamplerConfig.steps, help="steps of the first frame and of each scene's start (cold starts; with --restarts, each start's trial is a fifth of them)")
    p.add_argument("--inbetween", type=int, default=V.inbetween, help="frames between optimised ones, by latent interpolation")
    p.add_argument("--transition", type=float, default=V.transition, help="seconds the target takes to move to the next segment")
    p.add_argument("--scene-cut", type=float, default=V.scene_cut,
                   help="a boundary whose two segments' conditionings have a cosine below this dissolves into a new scene "
                        "(a cold start of the next segment's look), as does a segment that returns to an earlier scene's "
                        "look; a new scene with an earlier scene's look (a chorus again) reuses it; -1: never")
    p.add_argument("--zoom", type=float, default=V.zoom, help="zoom per second (0.1: 10%% closer each second)")
    p.add_argument("--rotate", type=float, default=V.rotate, help="degrees per second")
    p.add_argument("--translate", type=float, nargs=2, default=[V.translate_x, V.translate_y], metavar=("X", "Y"),
                   help="image widths and heights per second")
    p.add_argument("--reactivity", type=float, default=V.reactivity, help="0..1: onsets drive each frame's learning rate, loudness its motion")
    p.add_argument("--start", type=float, default=V.start, help="seconds into the song where the video starts")
    p.add_argument("--duration", type=float, default=V.duration, help="seconds of video (0: to the end)")
    p.add_argument("--upscale", type=int, default=V.upscale, help="MP4 pixels per image pixel (nearest neighbour)")
    p.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), default=[SamplerConfig.width, SamplerConfig.height])
    p.add_argument("--seed", type=int, default=SamplerConfig.seed)
    p.add_argument("--lr", type=float, default=SamplerConfig.lr)
    p.add_argument("--optimizer", default=SamplerConfig.optimizer, help=", ".join(OPTIMIZERS))
    p.add_argument("--cutn", type=int, default=SamplerConfig.cutn)
    p.add_argument("--init", default=SamplerConfig.init, choices=[m for m in INIT_MODES if m != "image"],
                   help="the first frame's start")
    add_restarts_option(p, "random starts each cold start (the first frame, each new scene) tries")
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels (identical frames on CPU)")
    add_model_options(p)
    p.add_argument("--frames-dir", metavar="DIR", help="where frames are kept as they are made (default: OUT.frames)")
    p.add_argument("--out", required=True, metavar="FILE.mp4")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON summary at the end")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..video.job import VideoJob, make_video
    from .progress import TqdmCallback

    cfg = SamplerConfig(width=args.size[0], height=args.size[1], steps=args.first_steps, lr=args.lr, optimizer=args.optimizer,
                        seed=args.seed, init=args.init, restarts=args.restarts, cutn=args.cutn, deterministic=args.deterministic,
                        precision=args.precision)
    video = VideoConfig(fps=args.fps, steps_per_frame=args.steps_per_frame, inbetween=args.inbetween,
                        transition=args.transition, scene_cut=args.scene_cut, zoom=args.zoom, rotate=args.rotate,
                        translate_x=args.translate[0], translate_y=args.translate[1], reactivity=args.reactivity,
                        start=args.start, duration=args.duration, upscale=args.upscale)
    job = VideoJob(song=args.song, out=args.out, lyrics=args.lyrics, genre=args.genre, sampler=cfg, video=video,
                   attention=args.attention, vqgan=args.vqgan, clip=args.clip, preset=args.preset, download=args.download,
                   device=args.device, frames_dir=args.frames_dir, force=args.force)
    with TqdmCallback("video", enabled=None, unit="frame") as bar:
        summary = make_video(job, callback=bar)
    return emit(args, summary, f"wrote {summary['out']} ({summary['frames']} frames at {summary['fps']} fps, "
                               f"{summary['segments']} segments, {summary['resumed']} frames resumed)")
