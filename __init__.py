"""comfyui-lag: ComfyUI entry point.

ComfyUI imports this folder as a package by its file path, so everything below is relative.
Heavy libraries (open_clip, librosa, soundfile) are imported only when a node runs.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = None
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
