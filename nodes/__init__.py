"""ComfyUI nodes of comfyui-lag (V1 API). Filled in node by node; nothing here imports ComfyUI
or heavy libraries at import time."""

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
