"""ComfyUI nodes of comfyui-lag (V1 API). Node ids carry the fixed `LAG` prefix and never change.

Importing this package is cheap: no ComfyUI module, open_clip, librosa or soundfile is imported
here; each node imports what it needs when it runs.
"""

from .attention import LAGConditioningCombine, LAGLyricAttention
from .audio import LAGAudioFeatureEncoder
from .common import comfy_available, register_model_folders
from .data import LAGLoadLAGEntry
from .loaders import LAGCLIPLoader, LAGLoadAudio, LAGVQGANLoader
from .sampler import LAGSamplerOptions, LAGVQGANCLIPSampler
from .train import LAGTrainAttention
from .video import LAGSaveVideo, LAGSongToVideo

if comfy_available():
    register_model_folders()

NODE_CLASS_MAPPINGS = {
    "LAGLoadLAGEntry": LAGLoadLAGEntry,
    "LAGAudioFeatureEncoder": LAGAudioFeatureEncoder,
    "LAGLyricAttention": LAGLyricAttention,
    "LAGConditioningCombine": LAGConditioningCombine,
    "LAGVQGANCLIPSampler": LAGVQGANCLIPSampler,
    "LAGSamplerOptions": LAGSamplerOptions,
    "LAGTrainAttention": LAGTrainAttention,
    "LAGVQGANLoader": LAGVQGANLoader,
    "LAGCLIPLoader": LAGCLIPLoader,
    "LAGLoadAudio": LAGLoadAudio,
    "LAGSongToVideo": LAGSongToVideo,
    "LAGSaveVideo": LAGSaveVideo,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "LAGLoadLAGEntry": "Load LAG Entry",
    "LAGAudioFeatureEncoder": "Audio Feature Encoder",
    "LAGLyricAttention": "Lyric Attention",
    "LAGConditioningCombine": "Combine Conditioning (LAG)",
    "LAGVQGANCLIPSampler": "VQGAN-CLIP Sampler",
    "LAGSamplerOptions": "Sampler Options (LAG)",
    "LAGTrainAttention": "Train Lyric Attention",
    "LAGVQGANLoader": "Load VQGAN",
    "LAGCLIPLoader": "Load CLIP (open_clip)",
    "LAGLoadAudio": "Load Audio (LAG)",
    "LAGSongToVideo": "Song to Video (LAG)",
    "LAGSaveVideo": "Save Video (LAG)",
}
