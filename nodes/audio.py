"""AudioFeatureEncoder: AUDIO or MFCC -> LAG MFCC and an audio embedding in CLIP space."""

from __future__ import annotations

from .common import CACHE, device, file_signature, folder_list, full_path

UNTRAINED = "untrained statistics encoder"


def load_encoder(name: str, clip):
    """The audio encoder stored in an attention file, or the untrained statistics encoder."""
    if name == UNTRAINED:
        from ..lag_core.audio.encoder import stats_encoder

        return CACHE.get(("stats-encoder", clip.embed_dim, str(device())), lambda: stats_encoder(clip.embed_dim).to(device()))
    from ..lag_core.attention.condition import load_attention
    from ..lag_core.errors import WeightsError

    path = full_path("lag_attention", name)
    loaded = CACHE.get(("attention", file_signature(path), str(device())), lambda: load_attention(path, clip, device()))
    if loaded.audio_encoder is None:
        raise WeightsError(f"'{name}' was trained without audio and holds no audio encoder; pick another file or '{UNTRAINED}'")
    return loaded.audio_encoder


def mfcc_image(mfcc):
    """MFCC `[128, T]` as a picture (coefficient 0 at the bottom), `[1, 128*2, T, 3]`."""
    import torch

    m = mfcc.float()
    m = (m - m.mean(1, keepdim=True)) / m.std(1, keepdim=True).clamp_min(1e-6)  # per-coefficient contrast
    v = (m.clamp(-2.5, 2.5) + 2.5) / 5.0  # [128, T] in 0..1
    v = v.flip(0).repeat_interleave(2, dim=0)  # [256, T]
    rgb = torch.stack([v, v.pow(2.0) * 0.8, (1 - v) * 0.6 + 0.2 * v], dim=-1)  # [256, T, 3]
    return rgb[None].clamp(0, 1)


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
                "segment": (["first 10 s", "middle 10 s"], {"tooltip": "Which 10 s of a longer clip to use."}),
            },
            "optional": {
                "audio": ("AUDIO", {"tooltip": "The song's audio; resampled to 22050 Hz mono."}),
                "mfcc": ("LAG_MFCC", {"tooltip": "A ready MFCC, used when no audio is connected."}),
            },
        }

    def encode(self, clip, encoder, segment, audio=None, mfcc=None):
        import torch

        from ..lag_core.audio.io import audio_to_mfcc, to_mono_22050
        from ..lag_core.audio.mfcc import CLIP_SAMPLES, mfcc_lag
        from ..lag_core.errors import InputError

        if audio is not None:
            if segment == "middle 10 s":
                mono = to_mono_22050(audio)[:1]
                start = max(0, (mono.shape[1] - CLIP_SAMPLES) // 2)
                clip_wave = torch.nn.functional.pad(mono[:, start : start + CLIP_SAMPLES], (0, max(0, CLIP_SAMPLES - mono.shape[1])))
                feats = mfcc_lag(clip_wave)
            else:
                feats = audio_to_mfcc(audio, "pad")[:1]
        elif mfcc is not None:
            feats = mfcc.reshape(-1, mfcc.shape[-2], mfcc.shape[-1])[:1].float()
        else:
            raise InputError("Audio Feature Encoder needs an audio or an mfcc input connected")
        enc = load_encoder(encoder, clip)
        with torch.no_grad():
            embed = enc.embed(feats.to(device())).cpu()  # [1, D]
        return (embed, feats.cpu(), mfcc_image(feats[0].cpu()))
