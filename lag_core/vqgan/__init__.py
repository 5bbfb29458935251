"""Clean-room VQGAN, state-dict compatible with taming-transformers."""

from .config import VQGANConfig
from .loader import convert_vqgan, infer_config, load_vqgan, random_vqgan, save_vqgan
from .model import VQGAN, VectorQuantizer

__all__ = ["VQGAN", "VQGANConfig", "VectorQuantizer", "convert_vqgan", "infer_config", "load_vqgan", "random_vqgan",
           "save_vqgan"]
