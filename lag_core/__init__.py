"""lag_core: the headless engine of comfyui-lag (no ComfyUI imports).

Heavy modules (open_clip, librosa, soundfile) are imported where they are used, so importing
this package stays cheap.
"""

from .errors import DataError, InputError, LAGError, UnsafePickleError, WeightsError

__version__ = "0.1.0"
__all__ = ["DataError", "InputError", "LAGError", "UnsafePickleError", "WeightsError", "__version__"]
