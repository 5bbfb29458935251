"""Write the bundled workflows: UI format in workflows/, API-format twins in workflows/api/.

    .venv/bin/python scripts/make_workflows.py

The graphs are defined once here (API format plus a layout); the UI files are generated from
them with the pack's node definitions, so the two formats cannot drift apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from packinfo import ROOT, object_info  # noqa: E402

from lag_core.comfy.workflow import api_to_ui  # noqa: E402

VQ = {"class_type": "LAGVQGANLoader", "inputs": {"vqgan_name": "[preset] toyworld"}, "_meta": {"title": "Load VQGAN"}}
CLIP = {"class_type": "LAGCLIPLoader", "inputs": {"clip_name": "[preset] toyworld", "open_clip_spec": "", "allow_download": False},
        "_meta": {"title": "Load CLIP"}}
MHA = "toyworld_lyric_attention_mha.safetensors"


def sampler(cond=None, prompts="", steps=30, frame_every=0, seed=1):
    inputs = {"vqgan": ["1", 0], "clip": ["2", 0], "prompts": prompts, "width": 64, "height": 64, "steps": steps,
              "seed": seed, "lr": 0.15, "optimizer": "adam", "cutn": 16, "cut_pow": 1.0, "init": "random",
              "frame_every": frame_every, "preview_every": 5}
    if cond:
        inputs["conditioning"] = cond
    return {"class_type": "LAGVQGANCLIPSampler", "inputs": inputs, "_meta": {"title": "VQGAN-CLIP Sampler"}}


def save(src, prefix, title="Save Image"):
    return {"class_type": "SaveImage", "inputs": {"images": src, "filename_prefix": prefix}, "_meta": {"title": title}}


def preview(src, title):
    return {"class_type": "PreviewImage", "inputs": {"images": src}, "_meta": {"title": title}}


WORKFLOWS = {
    "1_song_entry_to_image": {
        "1": VQ, "2": CLIP,
        "3": {"class_type": "LAGLoadLAGEntry", "inputs": {"dataset": "[sample] LAG sample (24 entries)", "index": 3, "file_name": ""},
              "_meta": {"title": "Load LAG Entry"}},
        "4": {"class_type": "LAGLyricAttention", "inputs": {"clip": ["2", 0], "weights": MHA, "lyrics": ["3", 0], "genre": ["3", 1],
                                                            "weight": 1.0, "mfcc": ["3", 2]}, "_meta": {"title": "Lyric Attention"}},
        "5": sampler(cond=["4", 0]),
        "6": save(["5", 0], "lag/song"),
        "7": preview(["4", 1], "Attention map"),
    },
    "2_own_audio_and_lyrics_to_image": {
        "1": VQ, "2": CLIP,
        "3": {"class_type": "LAGLoadAudio", "inputs": {"audio": "[sample] sample_rap_2.ogg"}, "_meta": {"title": "Load Audio"}},
        "4": {"class_type": "LAGAudioFeatureEncoder", "inputs": {"clip": ["2", 0], "encoder": MHA, "segment": "first 10 s",
                                                                 "audio": ["3", 0]}, "_meta": {"title": "Audio Feature Encoder"}},
        "5": {"class_type": "LAGLyricAttention", "inputs": {"clip": ["2", 0], "weights": MHA,
                                                            "lyrics": "Counting every blessing on the late night train",
                                                            "genre": "rap", "weight": 1.0, "mfcc": ["4", 1]},
              "_meta": {"title": "Lyric Attention"}},
        "6": sampler(cond=["5", 0], prompts="city lights at night:0.3"),
        "7": save(["6", 0], "lag/own_song"),
        "8": preview(["4", 2], "MFCC"),
        "9": preview(["5", 1], "Attention map"),
    },
    "3_train_attention": {
        "2": CLIP,
        "3": {"class_type": "LAGTrainAttention", "inputs": {"clip": ["2", 0], "dataset": "[sample] LAG sample (24 entries)",
                                                            "kind": "mha", "genre_weight": 0.7, "epochs": 10, "batch_size": 8,
                                                            "lr": 0.002, "seed": 0, "use_audio": True,
                                                            "out_name": "my_lyric_attention", "overwrite": True},
              "_meta": {"title": "Train Lyric Attention"}},
        "4": preview(["3", 1], "Training curves"),
    },
    "4_text_prompt_vqgan_clip": {
        "1": VQ, "2": CLIP,
        "3": sampler(prompts="a red sun over a dark sea\nblurry:-0.5", steps=40),
        "4": save(["3", 0], "lag/text"),
    },
    "5_frames_for_a_clip": {
        "1": VQ, "2": CLIP,
        "3": {"class_type": "LAGLoadLAGEntry", "inputs": {"dataset": "[sample] LAG sample (24 entries)", "index": 0, "file_name": ""},
              "_meta": {"title": "Load LAG Entry"}},
        "4": {"class_type": "LAGLyricAttention", "inputs": {"clip": ["2", 0], "weights": MHA, "lyrics": ["3", 0], "genre": ["3", 1],
                                                            "weight": 1.0, "mfcc": ["3", 2]}, "_meta": {"title": "Lyric Attention"}},
        "5": sampler(cond=["4", 0], steps=30, frame_every=5),
        "6": save(["5", 1], "lag/frames", "Save Frames"),
        "7": save(["5", 0], "lag/final"),
    },
}

LAYOUT_COLUMNS = {"LAGVQGANLoader": 0, "LAGCLIPLoader": 0, "LAGLoadLAGEntry": 0, "LAGLoadAudio": 0,
                  "LAGAudioFeatureEncoder": 1, "LAGLyricAttention": 1, "LAGTrainAttention": 1,
                  "LAGVQGANCLIPSampler": 2, "SaveImage": 3, "PreviewImage": 3}


def layout(api: dict) -> dict:
    rows: dict[int, int] = {}
    out = {}
    for nid, node in api.items():
        col = LAYOUT_COLUMNS.get(node["class_type"], 1)
        row = rows.get(col, 0)
        height = 420 if node["class_type"] == "LAGVQGANCLIPSampler" else 260 if col == 3 else 200
        out[nid] = (40 + 380 * col, 60 + row, 340, height)
        rows[col] = row + height + 60
    return out


def main():
    info = object_info()
    (ROOT / "workflows" / "api").mkdir(parents=True, exist_ok=True)
    for name, api in WORKFLOWS.items():
        (ROOT / "workflows" / "api" / f"{name}.json").write_text(json.dumps(api, indent=2) + "\n")
        (ROOT / "workflows" / f"{name}.json").write_text(json.dumps(api_to_ui(api, info, layout(api)), indent=2) + "\n")
        sys.stdout.write(f"wrote workflows/{name}.json and workflows/api/{name}.json\n")


if __name__ == "__main__":
    main()
