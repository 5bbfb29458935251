"""VQGAN (taming-transformers `VQModel`, inference parts only): encoder, quant_conv,
vector quantizer, post_quant_conv, decoder. Key-for-key compatible with taming checkpoints.

Images are in [-1, 1], `[B, 3, H, W]`; latents are `[B, embed_dim, H/f, W/f]`.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import VQGANConfig
from .modules import Decoder, Encoder


class VectorQuantizer(nn.Module):
    """Nearest-codebook-entry quantizer (van den Oord et al., 2017) with a straight-through
    gradient, as in taming's `VectorQuantizer`."""

    def __init__(self, n_embed: int, embed_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """Indices of the nearest codebook entries: `[B, D, h, w]` -> `[B, h, w]`."""
        flat = z.movedim(1, -1).reshape(-1, z.shape[1])  # [B*h*w, D]
        book = self.embedding.weight  # [N, D]
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ book.T + book.pow(2).sum(1)  # [B*h*w, N]
        return dist.argmin(1).view(z.shape[0], z.shape[2], z.shape[3])

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors for indices: `[B, h, w]` -> `[B, D, h, w]`."""
        return self.embedding(codes).movedim(-1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Quantize with a straight-through gradient: forward is z_q, backward is identity."""
        z_q = self.lookup(self.codes(z)).to(z.dtype)
        return z + (z_q - z).detach()


class VQGAN(nn.Module):
    def __init__(self, cfg: VQGANConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quantize = VectorQuantizer(cfg.n_embed, cfg.embed_dim)
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(cfg.embed_dim, cfg.z_channels, 1)

    @property
    def downsample_factor(self) -> int:
        return self.cfg.downsample_factor

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Unquantized latent: `[B, 3, H, W]` in [-1, 1] -> `[B, embed_dim, H/f, W/f]`."""
        h = self.encoder(x)
        if self.cfg.double_z:
            h = h[:, : self.cfg.z_channels]
        return self.quant_conv(h)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Quantized latent -> image `[B, 3, H, W]`, roughly in [-1, 1]."""
        return self.decoder(self.post_quant_conv(z_q))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.quantize(self.encode(x)))

    def codebook_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel min and max of the codebook, `[1, D, 1, 1]` each, for clamping latents."""
        book = self.quantize.embedding.weight
        return book.min(0).values[None, :, None, None], book.max(0).values[None, :, None, None]
