"""TrainAttention: train lyric attention on a dataset, inside ComfyUI."""

from __future__ import annotations

from ..lag_core.options import ATTENTION_KEYS, ATTENTION_KINDS, TrainConfig
from .common import WEIGHTS, first_folder, progress
from .data import dataset_choices, open_cached


def weights_file_name(out_name) -> str:
    """`out_name` as the file name to write: a plain name (no folder, no hidden file), not one of the
    weights shipped with the pack (a file of that name would shadow them in every workflow)."""
    import re

    from ..lag_core.errors import InputError

    stem = str(out_name).strip().removesuffix(".safetensors")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-. ]{0,120}", stem) or ".." in stem:
        raise InputError(f"out_name '{out_name}' is not a plain file name; use letters, digits, '-' and '_'")
    name = stem + ".safetensors"
    if (WEIGHTS / "attention" / name).exists():
        raise InputError(f"out_name '{stem}' is the name of weights shipped with the pack; a file of that name would "
                         "shadow them in every workflow: choose another out_name")
    return name


class LAGTrainAttention:
    DESCRIPTION = ("Trains lyric attention (and its audio encoder) on a LAG dataset with the genre-weighted CLIP loss "
                   "(symmetric InfoNCE against genre prompts with weight genre_weight and the lyric text with the rest). "
                   "CLIP stays frozen; its text features are cached on disk. Saves the weights to "
                   "ComfyUI/models/lag/attention/<out_name>.safetensors; the curves picture (connect it to Preview "
                   "Image) names the saved file in its title. After a refresh (press R), pick the file in Lyric "
                   "Attention's 'weights' list, and in Audio Feature Encoder's 'encoder' list for its audio encoder.")
    CATEGORY = "LAG/training"
    RETURN_TYPES = ("STRING", "IMAGE")
    RETURN_NAMES = ("weights_name", "curves")
    OUTPUT_TOOLTIPS = ("File name of the saved weights (pick it in Lyric Attention's 'weights' after a refresh).",
                       "Loss and accuracy per epoch, titled with the saved file's name.")
    FUNCTION = "train"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "clip": ("LAG_CLIP", {"tooltip": "The (frozen) CLIP to train for."}),
                "dataset": (dataset_choices(), {"tooltip": "Training data."}),
                "kind": (list(ATTENTION_KINDS), {"default": TrainConfig.kind, "tooltip": "Multi-head (scaled dot-product) or Bahdanau (additive) attention."}),
                "genre_weight": ("FLOAT", {"default": TrainConfig.genre_weight, "min": 0.0, "max": 1.0, "step": 0.05, "tooltip": "Weight of the genre targets; the lyric text gets the rest."}),
                "epochs": ("INT", {"default": TrainConfig.epochs, "min": 1, "max": 10000, "tooltip": "Passes over the training split."}),
                "batch_size": ("INT", {"default": TrainConfig.batch_size, "min": 2, "max": 4096, "tooltip": "Entries per step (the loss contrasts them)."}),
                "lr": ("FLOAT", {"default": TrainConfig.lr, "min": 0.00001, "max": 1.0, "step": 0.0001, "tooltip": "AdamW learning rate."}),
                "seed": ("INT", {"default": TrainConfig.seed, "min": 0, "max": 0xFFFFFFFF, "tooltip": "Seed: same seed, same run."}),
                "use_audio": ("BOOLEAN", {"default": TrainConfig.use_audio, "tooltip": "Train the audio encoder too, so the sound can carry the genre (without a genre). Half of the entries that keep their genre hear a random training entry's audio, so a genre you give wins over the sound (lag train --audio-mismatch)."}),
                "out_name": ("STRING", {"default": "my_lyric_attention", "tooltip": "File name (without .safetensors) to save to."}),
                "overwrite": ("BOOLEAN", {"default": True, "tooltip": "Replace an existing file of that name (only once the new one is complete)."}),
            },
            "optional": {
                "keys": (list(ATTENTION_KEYS), {"default": TrainConfig.keys, "tooltip": "What the attention attends over: each word on its own (words), or CLIP's tokens in context with (tokens) or without (content) its end-of-text token."}),
                "audio_only_genre_weight": ("FLOAT", {"default": -1.0, "min": -1.0, "max": 1.0, "step": 0.05, "tooltip": "Weight of the genre targets for the entries trained without their genre (the sound alone must carry it); negative: the same as genre_weight (lag train --audio-only-genre-weight)."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, out_name):
        try:
            if out_name is not None:  # None: linked from another node, checked when the node runs
                weights_file_name(out_name)
        except ValueError as exc:
            return str(exc)
        return True

    def train(self, clip, dataset, kind, genre_weight, epochs, batch_size, lr, seed, use_audio, out_name, overwrite,
              keys=TrainConfig.keys, audio_only_genre_weight=-1.0):
        import torch

        from ..lag_core.attention.train import train_to_file
        from ..lag_core.errors import InputError
        from ..lag_core.viz import plot_training_curves

        name = weights_file_name(out_name)
        out = first_folder("lag_attention") / name
        if out.exists() and not overwrite:
            raise InputError(f"'{out}' exists; turn on overwrite or choose another out_name")
        cfg = TrainConfig(kind=kind, genre_weight=genre_weight, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                          use_audio=use_audio, keys=keys,
                          audio_only_genre_weight=None if audio_only_genre_weight < 0 else audio_only_genre_weight)
        # ComfyUI runs nodes under inference mode; training needs autograd (as ComfyUI's own trainer does).
        with torch.inference_mode(False), torch.enable_grad():
            result = train_to_file(open_cached(dataset), clip, cfg, out, callback=progress(1))  # total: per step
        title = (f"saved {name} in {out.parent}\n"
                 "refresh (R), then pick it in Lyric Attention > weights or Audio Feature Encoder > encoder")
        return {"ui": {"text": [name]}, "result": (name, plot_training_curves(result.history, title=title))}
