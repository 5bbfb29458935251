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


class FSQ(nn.Module):
    """Finite scalar quantization (Mentzer et al., "Finite Scalar Quantization: VQ-VAE Made
    Simple", 2023): each of D channels is bounded with tanh and rounded to one of L_d levels;
    the codebook is the implicit grid of prod(L_d) points. No parameters, no collapse.

    Latents `z` live before the bound; quantized values are in [-1, 1]. Odd levels only.
    """

    def __init__(self, levels: tuple[int, ...]):
        super().__init__()
        if not levels or any(lv < 3 or lv % 2 == 0 for lv in levels):
            raise ValueError(f"FSQ levels must be odd and >= 3, found {levels}")
        self.levels = tuple(int(lv) for lv in levels)
        half = (torch.tensor(self.levels, dtype=torch.float32) - 1) / 2
        self.register_buffer("half_width", half.view(1, -1, 1, 1), persistent=False)  # [1, D, 1, 1]
        self.register_buffer("bound_scale", (half * (1 + 1e-3)).view(1, -1, 1, 1), persistent=False)
        basis = torch.cumprod(torch.tensor((1, *self.levels[:-1])), 0)
        self.register_buffer("basis", basis.view(1, -1, 1, 1), persistent=False)

    @property
    def n_embed(self) -> int:
        return int(torch.tensor(self.levels).prod())

    def _rounded(self, z: torch.Tensor) -> torch.Tensor:
        bounded = torch.tanh(z) * self.bound_scale.to(z.dtype)
        return bounded + (bounded.round() - bounded).detach()  # straight-through rounding, [-h, h]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self._rounded(z) / self.half_width.to(z.dtype)  # [B, D, h, w] in [-1, 1]

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        digits = (self._rounded(z).detach() + self.half_width).round().long()  # [B, D, h, w], 0..L-1
        return (digits * self.basis).sum(1)  # [B, h, w]

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Indices -> a pre-bound latent that quantizes to them (what the sampler optimises)."""
        levels = torch.tensor(self.levels, device=codes.device).view(1, -1, 1, 1)
        digits = (codes[:, None] // self.basis) % levels  # [B, D, h, w]
        value = digits.float() - self.half_width
        return torch.atanh(value / self.bound_scale)

    def latent_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        edge = torch.atanh(self.half_width / self.bound_scale)  # where the outermost level is reached
        return -edge, edge


class VQGAN(nn.Module):
    def __init__(self, cfg: VQGANConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        if cfg.quantizer == "fsq":
            self.quantize = FSQ(cfg.fsq_levels)
        else:
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
        if isinstance(self.quantize, FSQ):
            return self.quantize.latent_range()
        book = self.quantize.embedding.weight
        return book.min(0).values[None, :, None, None], book.max(0).values[None, :, None, None]
