"""AudioFeatureEncoder: AUDIO or MFCC -> LAG MFCC and an audio embedding in CLIP space."""

from __future__ import annotations

from .common import CACHE, device, folder_list

UNTRAINED = "untrained statistics encoder"
WINDOWS = {"first 10 s": "first", "middle 10 s": "middle"}


def load_encoder(name: str, clip):
    """The audio encoder stored in an attention file, or the untrained statistics encoder
    (standardised on the bundled sample)."""
    if name == UNTRAINED:
        from ..lag_core.audio.encoder import stats_encoder
        from ..lag_core.data.dataset import open_dataset

        return CACHE.get(("stats-encoder", clip.embed_dim, str(device())),
                         lambda: stats_encoder(clip.embed_dim, open_dataset("sample").mfcc).to(device()))
    from ..lag_core.errors import WeightsError
    from .attention import load_attention_file

    loaded = load_attention_file(name, clip)
    if loaded.audio_encoder is None:
        raise WeightsError(f"'{name}' was trained without audio and holds no audio encoder; pick another file or '{UNTRAINED}'")
    return loaded.audio_encoder


class LAGAudioFeatureEncoder:
    DESCRIPTION = ("Turns a song's sound into features: the LAG MFCC (22050 Hz, 128 coefficients, 431 frames per 10 s) "
                   "and an embedding in CLIP's space from a trained audio encoder (stored in an attention file) or the "
                   "untrained statistics encoder. Give AUDIO (e.g. from Load Audio (LAG) or ComfyUI's Load Audio) or an MFCC (e.g. from Load LAG Entry).")
    CATEGORY = "LAG/audio"
    RETURN_TYPES = ("LAG_AUDIO_EMBED", "LAG_MFCC", "IMAGE")
    RETURN_NAMES = ("audio_embed", "mfcc", "mfcc_image")
    OUTPUT_TOOLTIPS = ("Audio embedding [1, D] (unit vector).", "MFCC [1, 128, 431].", "The MFCC as a picture.")
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "clip": ("LAG_CLIP", {"tooltip": "The CLIP whose space the embedding lives in."}),
                "encoder": ([UNTRAINED] + folder_list("lag_attention"), {"tooltip": "An attention file with a trained audio encoder, or the untrained one."}),
                "segment": (list(WINDOWS), {"tooltip": "Which 10 s of a longer clip to use."}),
            },
            "optional": {
                "audio": ("AUDIO", {"tooltip": "The song's audio; resampled to 22050 Hz mono."}),
                "mfcc": ("LAG_MFCC", {"tooltip": "A ready MFCC, used when no audio is connected."}),
            },
        }

    def encode(self, clip, encoder, segment, audio=None, mfcc=None):
        import torch

        from ..lag_core.audio.io import audio_to_mfcc
        from ..lag_core.errors import InputError
        from ..lag_core.viz import mfcc_picture

        if audio is not None:
            feats = audio_to_mfcc(audio, WINDOWS[segment])[:1]  # [1, 128, 431]
        elif mfcc is not None:
            feats = mfcc.reshape(-1, mfcc.shape[-2], mfcc.shape[-1])[:1].float()
        else:
            raise InputError("Audio Feature Encoder needs an audio or an mfcc input connected")
        enc = load_encoder(encoder, clip)
        with torch.no_grad():
            embed = enc.embed(feats.to(device())).cpu()  # [1, D]
        return (embed, feats.cpu(), mfcc_picture(feats[0].cpu()))
