"""Encoder and decoder blocks, state-dict compatible with taming-transformers
(`taming/modules/diffusionmodules/model.py`, Esser et al., "Taming Transformers", CVPR 2021).

Module names and nesting are taming's exactly, so its checkpoints load with `strict=True`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def normalize(channels: int, groups: int = 32) -> nn.GroupNorm:
    """taming's GroupNorm (32 groups). Fewer groups only change the statistics, never the weights'
    shapes, so the state dict stays taming's."""
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0, groups: int = 32):
        super().__init__()
        self.norm1 = normalize(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.norm2 = normalize(out_channels, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        if hasattr(self, "nin_shortcut"):
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with 1x1 conv projections."""

    def __init__(self, channels: int, groups: int = 32):
        super().__init__()
        self.norm = normalize(channels, groups)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        hn = self.norm(x)
        q = self.q(hn).flatten(2).transpose(1, 2)  # [B, HW, C]
        k = self.k(hn).flatten(2).transpose(1, 2)  # [B, HW, C]
        v = self.v(hn).flatten(2).transpose(1, 2)  # [B, HW, C]
        out = F.scaled_dot_product_attention(q, k, v)  # [B, HW, C], softmax(q k^T / sqrt(C)) v
        out = out.transpose(1, 2).reshape(b, c, h, w)  # [B, C, H, W]
        return x + self.proj_out(out)


class Downsample(nn.Module):
    """Stride-2 3x3 conv with taming's asymmetric (0, 1, 0, 1) padding."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour x2, then a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.num_resolutions = len(cfg.ch_mult)
        self.num_res_blocks = cfg.num_res_blocks
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, 1, 1)
        in_ch_mult = (1, *cfg.ch_mult)
        curr_res = cfg.resolution
        self.down = nn.ModuleList()
        block_in = cfg.ch
        for level in range(self.num_resolutions):
            block_in = cfg.ch * in_ch_mult[level]
            block_out = cfg.ch * cfg.ch_mult[level]
            stage = nn.Module()
            stage.block = nn.ModuleList()
            stage.attn = nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                stage.block.append(ResnetBlock(block_in, block_out, cfg.dropout, cfg.norm_groups))
                block_in = block_out
                if curr_res in cfg.attn_resolutions:
                    stage.attn.append(AttnBlock(block_in, cfg.norm_groups))
            if level != self.num_resolutions - 1:
                stage.downsample = Downsample(block_in)
                curr_res //= 2
            self.down.append(stage)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, cfg.dropout, cfg.norm_groups)
        self.mid.attn_1 = AttnBlock(block_in, cfg.norm_groups)
        self.mid.block_2 = ResnetBlock(block_in, block_in, cfg.dropout, cfg.norm_groups)
        self.norm_out = normalize(block_in, cfg.norm_groups)
        self.conv_out = nn.Conv2d(block_in, 2 * cfg.z_channels if cfg.double_z else cfg.z_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level, stage in enumerate(self.down):
            for i, block in enumerate(stage.block):
                h = block(h)
                if len(stage.attn) > 0:
                    h = stage.attn[i](h)
            if level != self.num_resolutions - 1:
                h = stage.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.num_resolutions = len(cfg.ch_mult)
        block_in = cfg.ch * cfg.ch_mult[-1]
        curr_res = cfg.resolution // 2 ** (self.num_resolutions - 1)
        self.conv_in = nn.Conv2d(cfg.z_channels, block_in, 3, 1, 1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, cfg.dropout, cfg.norm_groups)
        self.mid.attn_1 = AttnBlock(block_in, cfg.norm_groups)
        self.mid.block_2 = ResnetBlock(block_in, block_in, cfg.dropout, cfg.norm_groups)
        ups = []
        for level in reversed(range(self.num_resolutions)):
            block_out = cfg.ch * cfg.ch_mult[level]
            stage = nn.Module()
            stage.block = nn.ModuleList()
            stage.attn = nn.ModuleList()
            for _ in range(cfg.num_res_blocks + 1):
                stage.block.append(ResnetBlock(block_in, block_out, cfg.dropout, cfg.norm_groups))
                block_in = block_out
                if curr_res in cfg.attn_resolutions:
                    stage.attn.append(AttnBlock(block_in, cfg.norm_groups))
            if level != 0:
                stage.upsample = Upsample(block_in)
                curr_res *= 2
            ups.insert(0, stage)
        self.up = nn.ModuleList(ups)  # taming stores them lowest level first
        self.norm_out = normalize(block_in, cfg.norm_groups)
        self.conv_out = nn.Conv2d(block_in, cfg.out_ch, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(self.conv_in(z))))
        for level in reversed(range(self.num_resolutions)):
            stage = self.up[level]
            for i, block in enumerate(stage.block):
                h = block(h)
                if len(stage.attn) > 0:
                    h = stage.attn[i](h)
            if level != 0:
                h = stage.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))
