"""Node definitions of this pack (and the few core nodes the bundled workflows use) in the shape
of ComfyUI's `GET /object_info`, built without a server. Used to write and check the workflows."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# ComfyUI's template browser lists `<pack>/example_workflows/*.json` (one level deep, so the API twins in
# api/ are not listed) and shows `NAME.jpg` beside `NAME.json` as the card.
WORKFLOW_DIR = ROOT / "example_workflows"
API_DIR = WORKFLOW_DIR / "api"

CORE = {
    "SaveImage": {"input": {"required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}},
                  "output": [], "output_name": []},
    "PreviewImage": {"input": {"required": {"images": ["IMAGE"]}}, "output": [], "output_name": []},
}

# Display names of core ComfyUI nodes a title in our workflows must never take (a user could not tell
# our node from the core one): the 2024-03 test server's loaders, image and conditioning nodes, and
# the audio, video and text nodes of current ComfyUI (0.33). tests/e2e checks every entry the test
# server has against its /object_info, and every workflow title against all of its display names.
CORE_DISPLAY_NAMES = {
    "CheckpointLoaderSimple": "Load Checkpoint",
    "VAELoader": "Load VAE",
    "LoraLoader": "Load LoRA",
    "CLIPLoader": "Load CLIP",
    "CLIPVisionLoader": "Load CLIP Vision",
    "ControlNetLoader": "Load ControlNet Model",
    "StyleModelLoader": "Load Style Model",
    "UpscaleModelLoader": "Load Upscale Model",
    "CLIPTextEncode": "CLIP Text Encode (Prompt)",
    "CLIPVisionEncode": "CLIP Vision Encode",
    "ConditioningCombine": "Conditioning (Combine)",
    "KSampler": "KSampler",
    "VAEDecode": "VAE Decode",
    "VAEEncode": "VAE Encode",
    "SaveImage": "Save Image",
    "PreviewImage": "Preview Image",
    "LoadImage": "Load Image",
    "ImageBatch": "Batch Images",
    "LoadAudio": "Load Audio",
    "SaveAudio": "Save Audio (FLAC)",
    "PreviewAudio": "Preview Audio",
    "PreviewAny": "Preview Any",
    "LoadVideo": "Load Video",
    "SaveVideo": "Save Video",
    "CreateVideo": "Create Video",
}


def load_pack(name: str = "comfyui_lag_pack"):
    """Import the pack the way ComfyUI does: by file path, under a name that is not `nodes`."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def object_info() -> dict:
    pack = load_pack()
    info = {}
    for key, cls in pack.NODE_CLASS_MAPPINGS.items():
        info[key] = {"input": cls.INPUT_TYPES(), "output": list(cls.RETURN_TYPES),
                     "output_name": list(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)),
                     "display_name": pack.NODE_DISPLAY_NAME_MAPPINGS[key]}
    core = {key: {**node, "display_name": CORE_DISPLAY_NAMES[key]} for key, node in CORE.items()}
    return {**info, **core}


def thumbnail_comment(api: dict) -> str:
    """The JPEG comment of a workflow's card: a hash of the graph (node types and inputs) it was made from."""
    graph = {nid: {"class_type": node["class_type"], "inputs": node["inputs"]} for nid, node in api.items()}
    return "lag-workflow " + hashlib.sha256(json.dumps(graph, sort_keys=True).encode()).hexdigest()[:16]
