"""Song to Video (a whole song as frames, its AUDIO and fps) and Save Video (LAG): an MP4 with audio
through lag_core's one MP4 writer, for ComfyUI versions without video nodes."""

from __future__ import annotations

import glob
from pathlib import Path

from ..lag_core.options import MAX_FPS, SamplerConfig, VideoConfig
from .attention import load_attention_file
from .common import comfy_available, device, folder_list, full_path, progress

S, V = SamplerConfig, VideoConfig  # their field defaults are the inputs' defaults
NUMBER = {"step": 0.01}


class LAGSongToVideo:
    DESCRIPTION = ("A whole song as a music video: the song is cut into segments that follow its lyrics (LRC timed lines, "
                   "plain lines spread over the song, or none), each conditioned through trained lyric attention on its "
                   "words, genre and 10 s of sound; every frame continues the previous one for a few steps towards a "
                   "target that slides between segments, with optional zoom/rotate/translate and audio reactivity. "
                   "Outputs the frames, the audio they cover and the fps: connect them to Save Video (LAG), or to "
                   "ComfyUI's Create Video. Live previews; Cancel stops within one frame.")
    CATEGORY = "LAG/video"
    RETURN_TYPES = ("IMAGE", "AUDIO", "FLOAT")
    RETURN_NAMES = ("frames", "audio", "fps")
    OUTPUT_TOOLTIPS = ("The frames [F, H, W, 3].", "The part of the song the frames cover.", "Frames per second.")
    FUNCTION = "render"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "vqgan": ("LAG_VQGAN", {"tooltip": "From Load VQGAN."}),
                "clip": ("LAG_CLIP", {"tooltip": "From Load CLIP (open_clip): the CLIP the attention was trained with."}),
                "weights": (folder_list("lag_attention"), {"tooltip": "Lyric attention weights (mha or bahdanau, stored in the file)."}),
                "audio": ("AUDIO", {"tooltip": "The song (from Load Audio (LAG) or ComfyUI's Load Audio)."}),
                "lyrics": ("STRING", {"multiline": True, "default": "", "tooltip": "LRC ([mm:ss.xx] line; [genre:pop] sets the genre of the lines after it) or plain lines spread over the song; empty = the sound and genre alone."}),
                "genre": ("STRING", {"default": "", "tooltip": "metal, pop, rnb or rap for every segment; empty = the LRC's [genre:...] tags, else the sound."}),
                "fps": ("FLOAT", {"default": V.fps, "min": 0.1, "max": float(MAX_FPS), "step": 0.5, "tooltip": "Frames per second."}),
                "steps_per_frame": ("INT", {"default": V.steps_per_frame, "min": 1, "max": 1000, "tooltip": "Warm-start steps of each optimised frame."}),
                "first_steps": ("INT", {"default": S.steps, "min": 1, "max": 10000, "tooltip": "Steps of the first frame (a cold start)."}),
                "inbetween": ("INT", {"default": V.inbetween, "min": 0, "max": 16, "tooltip": "Frames between optimised ones, made by latent interpolation (decode only)."}),
                "zoom": ("FLOAT", {"default": V.zoom, "min": -0.9, "max": 0.9, "step": 0.01, "tooltip": "Zoom per second (0.1: 10 % closer each second)."}),
                "rotate": ("FLOAT", {"default": V.rotate, "min": -360.0, "max": 360.0, "step": 0.5, "tooltip": "Degrees per second, counter-clockwise."}),
                "translate_x": ("FLOAT", {"default": V.translate_x, "min": -1.0, "max": 1.0, **NUMBER, "tooltip": "Image widths per second (positive: right)."}),
                "translate_y": ("FLOAT", {"default": V.translate_y, "min": -1.0, "max": 1.0, **NUMBER, "tooltip": "Image heights per second (positive: down)."}),
                "reactivity": ("FLOAT", {"default": V.reactivity, "min": 0.0, "max": 1.0, **NUMBER, "tooltip": "How much the song drives each frame: onsets its learning rate, loudness its motion (0 = evenly)."}),
                "transition": ("FLOAT", {"default": V.transition, "min": 0.0, "max": 30.0, "step": 0.1, "tooltip": "Seconds the target takes to move from one segment to the next."}),
                "start": ("FLOAT", {"default": V.start, "min": 0.0, "max": 36000.0, "step": 0.5, "tooltip": "Seconds into the song where the video starts."}),
                "duration": ("FLOAT", {"default": V.duration, "min": 0.0, "max": 36000.0, "step": 0.5, "tooltip": "Seconds of video (0: to the end of the song)."}),
                "width": ("INT", {"default": S.width, "min": 8, "max": 4096, "step": 8, "tooltip": "A multiple of the VQGAN's factor (8 bundled, 16 taming)."}),
                "height": ("INT", {"default": S.height, "min": 8, "max": 4096, "step": 8, "tooltip": "A multiple of the VQGAN's factor (8 bundled, 16 taming)."}),
                "seed": ("INT", {"default": S.seed, "min": 0, "max": 0xFFFFFFFF, "tooltip": "Seed of the first frame's codes and of every frame's cutouts."}),
                "lr": ("FLOAT", {"default": S.lr, "min": 0.0001, "max": 10.0, "step": 0.005, "tooltip": "Learning rate (reactivity scales it per frame)."}),
                "cutn": ("INT", {"default": S.cutn, "min": 1, "max": 256, "tooltip": "Cutouts per step."}),
            },
            "optional": {
                "scene_cut": ("FLOAT", {"default": V.scene_cut, "min": -1.0, "max": 1.0, **NUMBER, "tooltip": "A boundary whose two segments' conditionings have a cosine below this (a verse turning into a chorus of another genre) dissolves into a new scene: a cold start of the next segment's look (so does a segment nearer an earlier scene's look than the previous segment's: a chorus line again; a scene with an earlier scene's look reuses that one's). -1 = never."}),
                "options": ("LAG_SAMPLER_OPTIONS", {"tooltip": "From Sampler Options (LAG)."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, weights, lyrics):
        if lyrics is not None and str(lyrics).strip():  # None: linked from another node
            from ..lag_core.video.lyrics import check_lyrics

            try:
                check_lyrics(str(lyrics))
            except ValueError as exc:
                return str(exc)
        try:
            full_path("lag_attention", weights)
        except ValueError as exc:
            return str(exc)
        return True

    def render(self, vqgan, clip, weights, audio, lyrics, genre, fps, steps_per_frame, first_steps, inbetween, zoom, rotate,
               translate_x, translate_y, reactivity, transition, start, duration, width, height, seed, lr, cutn,
               scene_cut=V.scene_cut, options=None):
        from ..lag_core.audio.io import check_audio, to_mono_22050
        from ..lag_core.video.plan import plan_song
        from ..lag_core.video.render import frame_times, render_video, segment_conditionings
        from .sampler import sampler_config

        video = VideoConfig(fps=fps, steps_per_frame=steps_per_frame, inbetween=inbetween, transition=transition,
                            scene_cut=scene_cut, zoom=zoom, rotate=rotate, translate_x=translate_x, translate_y=translate_y, reactivity=reactivity,
                            start=start, duration=duration)
        video.validate()
        cfg = sampler_config(options, width=width, height=height, steps=first_steps, lr=lr, seed=seed, cutn=cutn)
        cfg.validate(vqgan.downsample_factor)
        plan = plan_song(to_mono_22050(audio)[0], lyrics if str(lyrics).strip() else None, genre)
        count = len(frame_times(plan, video))
        conds = segment_conditionings(plan, load_attention_file(weights, clip), clip, device())
        out = render_video(vqgan, clip, plan, conds, cfg, video, callback=progress(count, preview_every=1))
        wave, sr = check_audio(audio)
        part = wave[:1, :, int(start * sr): int(round((start + count / fps) * sr))]  # [1, C, T] the frames' span
        return (out.frames, {"waveform": part.contiguous(), "sample_rate": sr}, float(fps))


def output_directory() -> Path:
    if comfy_available():
        import folder_paths

        return Path(folder_paths.get_output_directory())
    return Path("output")


class LAGSaveVideo:
    DESCRIPTION = ("Saves frames as an H.264 MP4 with the audio muxed in (AAC), in ComfyUI's output folder. The pack's own "
                   "writer (PyAV, no system ffmpeg needed), for ComfyUI versions without Create Video / Save Video.")
    CATEGORY = "LAG/video"
    RETURN_TYPES = ()
    RETURN_NAMES = ()
    OUTPUT_TOOLTIPS = ()
    OUTPUT_NODE = True
    FUNCTION = "save"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The frames [F, H, W, 3] (e.g. from Song to Video)."}),
                "fps": ("FLOAT", {"default": V.fps, "min": 0.1, "max": float(MAX_FPS), "step": 0.5, "tooltip": "Frames per second (connect Song to Video's fps)."}),
                "filename_prefix": ("STRING", {"default": "lag/video", "tooltip": "File name prefix inside ComfyUI's output folder (subfolders allowed)."}),
                "upscale": ("INT", {"default": 4, "min": 1, "max": 16, "tooltip": "Video pixels per image pixel, nearest neighbour (64 px frames look tiny in a player)."}),
            },
            "optional": {
                "audio": ("AUDIO", {"tooltip": "The sound track (e.g. Song to Video's audio); cut to the video's length."}),
            },
        }

    def save(self, images, fps, filename_prefix, upscale, audio=None):
        from ..lag_core.errors import InputError
        from ..lag_core.options import VideoConfig
        from ..lag_core.video.mp4 import write_mp4

        VideoConfig(fps=fps, upscale=upscale).validate()
        if not str(filename_prefix).strip() or str(filename_prefix).endswith(("/", "\\")):
            raise InputError(f"filename_prefix '{filename_prefix}' names no file; give a name such as 'lag/song'")
        root = output_directory().resolve()
        target = (root / f"{filename_prefix}.mp4").resolve()
        if root not in target.parents:
            raise InputError(f"filename_prefix '{filename_prefix}' leads outside ComfyUI's output folder; give a relative name")
        taken = target.parent.glob(f"{glob.escape(target.stem)}_*.mp4")  # escaped: "a[1]" is a name, not a pattern
        counter = 1 + max([int(p.stem.rsplit("_", 1)[-1]) for p in taken if p.stem.rsplit("_", 1)[-1].isdecimal()] or [0])
        while (target.parent / f"{target.stem}_{counter:05d}.mp4").exists():  # never replace a file
            counter += 1
        path = target.parent / f"{target.stem}_{counter:05d}.mp4"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_mp4(images, path, fps, audio, upscale)
        subfolder = path.parent.relative_to(root).as_posix()
        entry = {"filename": path.name, "subfolder": "" if subfolder == "." else subfolder, "type": "output"}
        return {"ui": {"images": [entry], "animated": (True,)}}
