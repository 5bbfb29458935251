"""Node definitions of this pack (and the few core nodes the bundled workflows use) in the shape
of ComfyUI's `GET /object_info`, built without a server. Used to write and check the workflows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CORE = {
    "SaveImage": {"input": {"required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}},
                  "output": [], "output_name": []},
    "PreviewImage": {"input": {"required": {"images": ["IMAGE"]}}, "output": [], "output_name": []},
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
                     "output_name": list(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES))}
    return {**info, **CORE}
