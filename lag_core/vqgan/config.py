"""VQGAN architecture config: the `ddconfig` of taming-transformers plus the codebook size.

Named architectures live as JSON in `lag_core/model_configs/vqgan/` (resolved by `lag_core.models`):

* `tiny`: taming layout, factor 8, a 256-entry codebook; for fast unit tests.
* `toyworld-arch`: the toy world's autoencoder, 64x64 -> 8x8 codes. FSQ (7, 5, 5, 5) keeps colours
  that a small VQ codebook collapsed (measured: 20.5 dB vs 18.3 dB PSNR, no blue lost). 8 norm
  groups, not 32: with 32 channels, 32 groups normalise each channel alone and flat backgrounds
  lose their colour (measured after 5 min on one core: 16.9 dB with 8 groups, 15.0 dB with 32,
  16.5 dB with 1).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from ..errors import InputError

BOUNDS = {"ch": 4096, "num_res_blocks": 64, "resolution": 16384, "in_channels": 64, "out_ch": 64,
          "z_channels": 16384, "embed_dim": 16384, "n_embed": 1 << 24, "norm_groups": 4096}


@dataclass(frozen=True)
class VQGANConfig:
    """Mirrors taming's `model.params` (`ddconfig`, `embed_dim`, `n_embed`).

    `vqgan_imagenet_f16_16384` is `VQGANConfig()` with its defaults; f16_1024 sets n_embed=1024.
    """

    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    resolution: int = 256
    in_channels: int = 3
    out_ch: int = 3
    z_channels: int = 256
    double_z: bool = False
    dropout: float = 0.0
    embed_dim: int = 256
    n_embed: int = 16384
    quantizer: str = "vq"  # vq: taming's nearest-codebook quantizer; fsq: finite scalar quantization
    fsq_levels: tuple[int, ...] = ()  # fsq only, e.g. (7, 5, 5, 5): embed_dim = len, n_embed = product
    # GroupNorm groups (taming: 32). With 32 channels, 32 groups normalise every channel on its own,
    # which erases flat colours; the toy world's narrow model uses fewer. Weights' shapes are unchanged.
    norm_groups: int = 32

    def __post_init__(self):
        """Sizes no VQGAN comes near (taming's f16_16384: ch 128, 5 levels, 16384 codes) are refused
        here, before any model (even an empty one on the meta device) is built from a file's config."""
        bad = [f"{key} = {getattr(self, key)!r}" for key, bound in BOUNDS.items()
               if isinstance(getattr(self, key), bool) or not isinstance(getattr(self, key), int)
               or not 1 <= getattr(self, key) <= bound]
        if not 1 <= len(self.ch_mult) <= 8 or not all(isinstance(m, int) and 1 <= m <= 64 for m in self.ch_mult):
            bad.append(f"ch_mult = {list(self.ch_mult)[:10]}")
        if self.quantizer not in ("vq", "fsq") or len(self.fsq_levels) > 16 or not all(
                isinstance(n, int) and 2 <= n <= 1024 for n in self.fsq_levels):
            bad.append(f"quantizer {self.quantizer!r} with fsq_levels {list(self.fsq_levels)[:10]}")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            bad.append(f"dropout = {self.dropout!r}")
        if bad:
            raise InputError(
                f"VQGAN config has {bad[0][:80]}, outside what any VQGAN uses (bounds: "
                f"{', '.join(f'{k} <= {v}' for k, v in BOUNDS.items())}, up to 8 ch_mult levels of at most 64)"
            )

    @property
    def downsample_factor(self) -> int:
        """Pixels per latent cell along each side (16 for the f16 models)."""
        return 2 ** (len(self.ch_mult) - 1)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> VQGANConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        for key in ("ch_mult", "attn_resolutions", "fsq_levels"):
            if key in kwargs:
                kwargs[key] = tuple(int(x) for x in kwargs[key])
        return cls(**kwargs)

    @classmethod
    def from_taming_yaml(cls, params: dict) -> VQGANConfig:
        """Build from taming's `model.params` mapping (`ddconfig`, `embed_dim`, `n_embed`)."""
        dd = dict(params["ddconfig"])
        dd["out_ch"] = dd.get("out_ch", 3)
        return cls.from_dict({**dd, "embed_dim": params["embed_dim"], "n_embed": params["n_embed"]})
