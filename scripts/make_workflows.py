"""Write the bundled workflows: UI format in example_workflows/, API-format twins in example_workflows/api/,
and with --thumbnails the template browser's card `NAME.jpg` beside each UI workflow.

    .venv/bin/python scripts/make_workflows.py [--thumbnails]

The graphs are defined once here (API format plus a layout); the UI files are generated from
them with the pack's node definitions, so the two formats cannot drift apart. Pack nodes are titled
with the pack's own display names. A thumbnail is the workflow's own output: its API graph is run
in-process through the pack's node classes (under inference mode, as ComfyUI runs them), and what
reaches its first Save Image (else Preview Image) node becomes the card. Each card carries the hash of
the graph it was made from in its JPEG comment; tests/test_pack.py fails when they no longer match.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from packinfo import API_DIR, CORE, ROOT, WORKFLOW_DIR, load_pack, object_info, thumbnail_comment  # noqa: E402

from lag_core.comfy.workflow import api_to_ui  # noqa: E402
from lag_core.data.demo_song import LRC as DEMO_LRC  # noqa: E402
from lag_core.data.demo_song import SONG_NAME  # noqa: E402
from lag_core.safeload import atomic_path  # noqa: E402

VQ = {"class_type": "LAGVQGANLoader", "inputs": {"vqgan_name": "[preset] toyworld"}}
CLIP = {"class_type": "LAGCLIPLoader", "inputs": {"clip_name": "[preset] toyworld", "open_clip_spec": "", "allow_download": False}}
MHA = "toyworld_lyric_attention_mha.safetensors"
SONG_LYRICS = DEMO_LRC.lstrip("\ufeff")  # the bundled song's LRC, typed into Song to Video's lyrics


def sampler(cond=None, prompts="", steps=30, frame_every=0, seed=1):
    inputs = {"vqgan": ["1", 0], "clip": ["2", 0], "prompts": prompts, "width": 64, "height": 64, "steps": steps,
              "seed": seed, "lr": 0.15, "optimizer": "adam", "cutn": 16, "cut_pow": 1.0, "init": "random",
              "frame_every": frame_every, "preview_every": 5}
    if cond:
        inputs["conditioning"] = cond
    return {"class_type": "LAGVQGANCLIPSampler", "inputs": inputs}


def save(src, prefix, title="Save Image"):
    return {"class_type": "SaveImage", "inputs": {"images": src, "filename_prefix": prefix}, "_meta": {"title": title}}


def preview(src, title):
    return {"class_type": "PreviewImage", "inputs": {"images": src}, "_meta": {"title": title}}


# File names are the cards' titles, and ComfyUI lists them in directory order (the frontend keeps it
# unless the user sorts A-Z): the number orders them by name, the first says where to start.
WORKFLOWS = {
    "1_start_here_song_to_image": {
        "1": VQ, "2": CLIP,
        "3": {"class_type": "LAGLoadLAGEntry", "inputs": {"dataset": "[sample] LAG sample (64 entries)", "index": 16, "file_name": ""}},
        "4": {"class_type": "LAGLyricAttention", "inputs": {"clip": ["2", 0], "weights": MHA, "lyrics": ["3", 0], "genre": ["3", 1],
                                                            "weight": 1.0, "mfcc": ["3", 2]}},
        "5": sampler(cond=["4", 0]),
        "6": save(["5", 0], "lag/song"),
        "7": preview(["4", 1], "Attention map"),
    },
    "2_own_audio_and_lyrics_to_image": {
        "1": VQ, "2": CLIP,
        "3": {"class_type": "LAGLoadAudio", "inputs": {"audio": "[sample] sample_rap_2.ogg"}},
        "4": {"class_type": "LAGAudioFeatureEncoder", "inputs": {"clip": ["2", 0], "encoder": MHA, "segment": "first 10 s",
                                                                 "audio": ["3", 0]}},
        "5": {"class_type": "LAGLyricAttention", "inputs": {"clip": ["2", 0], "weights": MHA,
                                                            "lyrics": "Counting every blessing while the city is burning",
                                                            "genre": "rap", "weight": 1.0, "mfcc": ["4", 1]}},
        "6": sampler(cond=["5", 0], prompts="flames:0.3"),
        "7": save(["6", 0], "lag/own_song"),
        "8": preview(["4", 2], "MFCC"),
        "9": preview(["5", 1], "Attention map"),
    },
    "3_train_attention": {
        "2": CLIP,
        "3": {"class_type": "LAGTrainAttention", "inputs": {"clip": ["2", 0], "dataset": "[sample] LAG sample (64 entries)",
                                                            "kind": "mha", "genre_weight": 0.7, "epochs": 10, "batch_size": 8,
                                                            "lr": 0.002, "seed": 0, "use_audio": True,
                                                            "out_name": "my_lyric_attention", "overwrite": True, "keys": "words",
                                                            "audio_only_genre_weight": -1.0}},
        "4": preview(["3", 1], "Training curves"),
    },
    "4_text_prompt_vqgan_clip": {
        "1": VQ, "2": CLIP,
        "3": sampler(prompts="sunshine on my face, rnb music album art\nblood:-0.5", steps=40),
        "4": save(["3", 0], "lag/text"),
    },
    "5_frames_for_a_clip": {
        "1": VQ, "2": CLIP,
        "3": {"class_type": "LAGLoadLAGEntry", "inputs": {"dataset": "[sample] LAG sample (64 entries)", "index": 0, "file_name": ""}},
        "4": {"class_type": "LAGLyricAttention", "inputs": {"clip": ["2", 0], "weights": MHA, "lyrics": ["3", 0], "genre": ["3", 1],
                                                            "weight": 1.0, "mfcc": ["3", 2]}},
        "5": sampler(cond=["4", 0], steps=30, frame_every=5),
        "6": save(["5", 1], "lag/frames", "Save Frames"),
        "7": save(["5", 0], "lag/final"),
    },
    "6_song_to_music_video": {
        "1": VQ, "2": CLIP,
        "3": {"class_type": "LAGLoadAudio", "inputs": {"audio": f"[sample] {SONG_NAME}.ogg"}},
        # 3 s across the turn from the metal verse (fire) to the pop chorus (ocean) at 20 s.
        "4": {"class_type": "LAGSongToVideo", "inputs": {
            "vqgan": ["1", 0], "clip": ["2", 0], "weights": MHA, "audio": ["3", 0], "lyrics": SONG_LYRICS, "genre": "",
            "fps": 4.0, "steps_per_frame": 3, "first_steps": 20, "inbetween": 1, "zoom": 0.1, "rotate": 0.0,
            "translate_x": 0.0, "translate_y": 0.0, "reactivity": 0.5, "transition": 1.0, "scene_cut": 0.5, "start": 18.5, "duration": 3.0,
            "width": 64, "height": 64, "seed": 1, "lr": 0.15, "cutn": 16}},
        "5": {"class_type": "LAGSaveVideo", "inputs": {"images": ["4", 0], "fps": ["4", 2], "filename_prefix": "lag/music_video",
                                                       "upscale": 4, "audio": ["4", 1]}},
        "6": preview(["4", 0], "Frames"),
    },
}

LAYOUT_COLUMNS = {"LAGVQGANLoader": 0, "LAGCLIPLoader": 0, "LAGLoadLAGEntry": 0, "LAGLoadAudio": 0,
                  "LAGAudioFeatureEncoder": 1, "LAGLyricAttention": 1, "LAGTrainAttention": 1,
                  "LAGVQGANCLIPSampler": 2, "LAGSongToVideo": 2, "SaveImage": 3, "PreviewImage": 3, "LAGSaveVideo": 3}


def layout(api: dict) -> dict:
    rows: dict[int, int] = {}
    out = {}
    for nid, node in api.items():
        col = LAYOUT_COLUMNS.get(node["class_type"], 1)
        row = rows.get(col, 0)
        height = {"LAGVQGANCLIPSampler": 420, "LAGSongToVideo": 640}.get(node["class_type"], 260 if col == 3 else 200)
        out[nid] = (40 + 380 * col, 60 + row, 340, height)
        rows[col] = row + height + 60
    return out


def titled(api: dict, display_names: dict) -> dict:
    """Every pack node titled with the pack's own display name (never a core node's, such as "Load CLIP")."""
    return {nid: {**node, "_meta": node.get("_meta") or {"title": display_names[node["class_type"]]}}
            for nid, node in api.items()}


# --- thumbnails --------------------------------------------------------------------------------------

CARD = 384  # px; the 64 px toy world is enlarged 6x with nearest-neighbour


def run_workflow(api: dict, pack) -> dict[str, object]:
    """Run an API graph in-process through the pack's node classes; return, per Save/Preview Image node,
    the IMAGE batch it receives (what ComfyUI would save or show)."""
    import torch

    results: dict[str, tuple] = {}
    shown: dict[str, object] = {}

    def value(v):
        if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str):
            return outputs(v[0])[v[1]]
        return v

    def outputs(nid: str) -> tuple:
        if nid not in results:
            node = api[nid]
            kwargs = {name: value(v) for name, v in node["inputs"].items()}
            if node["class_type"] in CORE:
                shown[nid] = kwargs["images"]
                results[nid] = ()
            else:
                cls = pack.NODE_CLASS_MAPPINGS[node["class_type"]]
                out = getattr(cls(), cls.FUNCTION)(**kwargs)
                results[nid] = tuple(out.get("result", ()) if isinstance(out, dict) else out)
        return results[nid]

    with torch.inference_mode():
        for nid in api:
            outputs(nid)
    return shown


def card_images(api: dict, shown: dict):
    """The card shows the first Save Image node's images, else the first Preview Image node's."""
    for kind in ("SaveImage", "PreviewImage"):
        for nid, node in api.items():
            if node["class_type"] == kind:
                return shown[nid]
    raise ValueError("the workflow shows no image")


def card(images):
    """An IMAGE batch `[B, H, W, 3]` as a square CARD x CARD picture: one image, or a grid of them; small images
    enlarged by a whole factor with nearest-neighbour (pixels stay pixels), large ones fitted with Lanczos."""
    from PIL import Image

    from lag_core.imageio import to_uint8

    tiles = [Image.fromarray(to_uint8(img)) for img in images]
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    cell = CARD // cols
    fitted = []
    for tile in tiles:
        factor = cell // max(tile.size)
        if factor >= 1:
            fitted.append(tile.resize((tile.width * factor, tile.height * factor), Image.Resampling.NEAREST))
        else:
            tile = tile.copy()
            tile.thumbnail((cell, cell), Image.Resampling.LANCZOS)
            fitted.append(tile)
    background = tiles[0].getpixel((0, 0)) if len(tiles) == 1 else (16, 16, 16)
    out = Image.new("RGB", (CARD, CARD), background)
    top = (CARD - rows * cell) // 2
    left = (CARD - cols * cell) // 2
    for i, tile in enumerate(fitted):
        r, c = divmod(i, cols)
        out.paste(tile, (left + c * cell + (cell - tile.width) // 2, top + r * cell + (cell - tile.height) // 2))
    return out


@contextlib.contextmanager
def scratch_models_folder(pack):
    """Training writes into a scratch ComfyUI/models/lag/attention (relative, so the card's title reads as it
    does in ComfyUI), never into the pack's weights/."""
    train = sys.modules[pack.__name__ + ".nodes.train"]
    keep_folder, keep_cwd = train.first_folder, Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        train.first_folder = lambda name: Path("ComfyUI/models/lag/attention")
        try:
            yield
        finally:
            train.first_folder = keep_folder
            os.chdir(keep_cwd)


def write_thumbnail(name: str, api: dict, pack):
    """Run the workflow, write its card; return the IMAGE batch on the card."""
    start = time.perf_counter()
    with scratch_models_folder(pack):
        shown = run_workflow(api, pack)
    images = card_images(api, shown)
    path = WORKFLOW_DIR / f"{name}.jpg"
    with atomic_path(path) as tmp:
        card(images).save(tmp, format="JPEG", quality=90, subsampling=0, comment=thumbnail_comment(api))
    sys.stdout.write(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB, {time.perf_counter() - start:.1f} s)\n")
    return images


ICON = ROOT / "docs" / "icon.png"  # the registry's Icon (pyproject [tool.comfy]): square, at most 400 px


def write_icon(finals: list) -> None:
    """The pack's icon: the last image of every toy-world card (64 px renders) in a square grid, enlarged
    with nearest-neighbour to 256 px."""
    from PIL import Image

    from lag_core.imageio import to_uint8

    tiles = [Image.fromarray(to_uint8(images[-1])) for images in finals if tuple(images.shape[1:3]) == (64, 64)]
    cols = math.ceil(math.sqrt(len(tiles)))
    grid = Image.new("RGB", (64 * cols, 64 * cols), (16, 16, 16))
    for i, tile in enumerate(tiles):
        grid.paste(tile, (64 * (i % cols), 64 * (i // cols)))
    factor = max(1, 256 // grid.width)
    with atomic_path(ICON) as tmp:
        grid.resize((grid.width * factor, grid.height * factor), Image.Resampling.NEAREST).save(tmp, format="PNG", optimize=True)
    sys.stdout.write(f"wrote {ICON.relative_to(ROOT)} from {len(tiles)} renders\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thumbnails", action="store_true", help="also run each workflow in-process and write its card")
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME", help="thumbnails of these workflows only")
    args = parser.parse_args(argv)
    pack = load_pack()
    info = object_info()
    API_DIR.mkdir(parents=True, exist_ok=True)
    finals = []
    for name, graph in WORKFLOWS.items():
        api = titled(graph, pack.NODE_DISPLAY_NAME_MAPPINGS)
        with atomic_path(API_DIR / f"{name}.json") as tmp:
            tmp.write_text(json.dumps(api, indent=2) + "\n")
        with atomic_path(WORKFLOW_DIR / f"{name}.json") as tmp:
            tmp.write_text(json.dumps(api_to_ui(api, info, layout(api)), indent=2) + "\n")
        sys.stdout.write(f"wrote example_workflows/{name}.json and example_workflows/api/{name}.json\n")
        if args.thumbnails and (args.only is None or name in args.only):
            finals.append(write_thumbnail(name, api, pack))
    if args.thumbnails and args.only is None:
        write_icon(finals)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
