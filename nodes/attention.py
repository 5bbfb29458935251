"""LyricAttention: song -> conditioning for the sampler (and a heatmap of what it attended to)."""

from __future__ import annotations

from ..lag_core.options import GENRES
from .common import CACHE, device, file_signature, folder_list, full_path


def load_attention_file(name: str, clip):
    """Attention weights from the node's folders, cached by file signature and device."""
    from ..lag_core.models import ModelRef, make_attention

    ref = ModelRef("attention", name, "file", full_path("lag_attention", name))
    return CACHE.get((ref.signature, str(device())), lambda: make_attention(ref, clip, device()))


class LAGLyricAttention:
    DESCRIPTION = ("Trained lyric attention (multi-head or Bahdanau, as stored in the weights file from "
                   "ComfyUI/models/lag/attention or the pack's weights/attention) over the words of the "
                   "lyrics (each embedded by CLIP; or CLIP's tokens, as the file was trained), queried by the genre and/or "
                   "the sound. Outputs a conditioning for the VQGAN-CLIP sampler and a heatmap of the attention over the words. Chain layers through 'previous'.")
    CATEGORY = "LAG/attention"
    RETURN_TYPES = ("LAG_CONDITIONING", "IMAGE", "STRING")
    RETURN_NAMES = ("conditioning", "attention_map", "kind")
    OUTPUT_TOOLTIPS = ("Weighted target in CLIP space.", "Attention over the lyric's words (or tokens).", "mha or bahdanau.")
    FUNCTION = "attend"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "clip": ("LAG_CLIP", {"tooltip": "The CLIP the attention was trained with."}),
                "weights": (folder_list("lag_attention"), {"tooltip": "Attention weights (kind mha or bahdanau is stored in the file)."}),
                "lyrics": ("STRING", {"multiline": True, "default": "", "tooltip": "Lyrics, any length: every word is attended over, none is cut."}),
                "genre": ("STRING", {"default": "metal", "tooltip": "metal, pop, rnb or rap (or connect Load LAG Entry's genre); empty = let the audio carry the genre."}),
                "weight": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.05, "tooltip": "Weight of this conditioning among the sampler's targets."}),
            },
            "optional": {
                "mfcc": ("LAG_MFCC", {"tooltip": "The song's MFCC: encoded by the audio encoder stored with these weights."}),
                "audio_embed": ("LAG_AUDIO_EMBED", {"tooltip": "A ready audio embedding (used when no mfcc is connected)."}),
                "previous": ("LAG_CONDITIONING", {"tooltip": "A conditioning to use as (part of) the query: stacks layers."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, weights, lyrics, genre):
        if lyrics is not None and not str(lyrics).strip():  # None: linked from another node
            return "lyrics are empty; type at least one line (or connect Load LAG Entry's lyrics)"
        if genre is not None and str(genre).strip() and str(genre).strip().lower() not in GENRES:
            from ..lag_core.safepath import shown

            return f"genre '{shown(genre)}' is not one of {', '.join(GENRES)} (leave it empty to let the audio carry the genre)"
        try:
            if weights is not None:
                full_path("lag_attention", weights)
        except ValueError as exc:
            return str(exc)
        return True

    @classmethod
    def IS_CHANGED(cls, weights, **_):
        return file_signature(full_path("lag_attention", weights))

    def attend(self, clip, weights, lyrics, genre, weight, mfcc=None, audio_embed=None, previous=None):
        from ..lag_core.song import Song, song_targets
        from ..lag_core.viz import attention_heatmap

        song = song_targets(Song(lyrics, genre, mfcc, audio_embed, previous), load_attention_file(weights, clip), clip, weight)
        title = f"{song.kind} | {song.genre or 'audio only'} | {lyrics.strip()[:60]}"
        return (song.targets, attention_heatmap(song.tokens, song.weights, title), song.kind)


class LAGConditioningCombine:
    DESCRIPTION = "Merges two conditionings into one set of weighted targets for the sampler."
    CATEGORY = "LAG/attention"
    RETURN_TYPES = ("LAG_CONDITIONING",)
    RETURN_NAMES = ("conditioning",)
    OUTPUT_TOOLTIPS = ("Both sets of targets.",)
    FUNCTION = "combine"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "conditioning_1": ("LAG_CONDITIONING", {"tooltip": "First conditioning."}),
            "conditioning_2": ("LAG_CONDITIONING", {"tooltip": "Second conditioning."}),
        }}

    def combine(self, conditioning_1, conditioning_2):
        from ..lag_core.prompts import Targets

        return (Targets.cat([conditioning_1, conditioning_2]),)
