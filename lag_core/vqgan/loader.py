"""Build a VQGAN from a weight file: taming Lightning `.ckpt`, `.safetensors`, or our own files.

The config comes from, in order: our safetensors metadata, `model.yaml` (or `<stem>.yaml`) beside
the file, or the key shapes of the state dict.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import torch

from ..errors import InputError, WeightsError
from ..memory import check_model_fits
from ..safeload import (
    FORMAT_KEY,
    SAFETENSORS_SUFFIX,
    metadata_config,
    read_safetensors_header,
    read_weights,
    tensor_shapes,
    write_safetensors,
)
from .config import VQGANConfig
from .model import FSQ, VQGAN

log = logging.getLogger("lag")

CONFIG_KEY = "lag_vqgan_config"
_PREFIXES = ("first_stage_model.", "model.", "module.")


def normalize_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip Net2Net / wrapper prefixes and drop the training-only `loss.*` keys."""
    out = {}
    for key, value in state.items():
        for prefix in _PREFIXES:
            if key.startswith(prefix) and not key.startswith("model.params"):
                key = key[len(prefix) :]
                break
        if key.startswith(("loss.", "cond_stage_model.", "transformer.", "permuter.")):
            continue
        out[key] = value
    return out


def _count(state: dict, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in state if (m := rx.match(k))})


def infer_config(state: dict[str, torch.Tensor], resolution: int = 256) -> VQGANConfig:
    """Derive the architecture from key names and tensor shapes (taming layout)."""
    try:
        ch = state["encoder.conv_in.weight"].shape[0]
        in_channels = state["encoder.conv_in.weight"].shape[1]
        levels = _count(state, r"encoder\.down\.(\d+)\.")
        num_res_blocks = _count(state, r"encoder\.down\.0\.block\.(\d+)\.")
        ch_mult = tuple(
            state[f"encoder.down.{i}.block.0.conv1.weight"].shape[0] // ch for i in range(levels)
        )
        attn_levels = [i for i in range(levels) if f"encoder.down.{i}.attn.0.q.weight" in state]
        embed_dim, z_channels = state["quant_conv.weight"].shape[:2]
        enc_out = state["encoder.conv_out.weight"].shape[0]
        n_embed = state["quantize.embedding.weight"].shape[0]
        out_ch = state["decoder.conv_out.weight"].shape[0]
    except KeyError as exc:
        raise WeightsError(
            f"weights lack the taming VQGAN key {exc.args[0]!r}; expected a taming-transformers VQModel "
            "checkpoint (e.g. vqgan_imagenet_f16_16384 last.ckpt) or a file written by `lag convert-weights`"
        ) from None
    if levels == 0 or num_res_blocks == 0:
        raise WeightsError("weights have no encoder.down.* blocks; they fit no known VQGAN config")
    cfg = VQGANConfig(
        ch=int(ch),
        ch_mult=ch_mult,
        num_res_blocks=num_res_blocks,
        attn_resolutions=tuple(resolution // 2**i for i in attn_levels),
        resolution=resolution,
        in_channels=int(in_channels),
        out_ch=int(out_ch),
        z_channels=int(z_channels),
        double_z=bool(enc_out == 2 * z_channels),
        embed_dim=int(embed_dim),
        n_embed=int(n_embed),
    )
    return cfg


def _yaml_config(path: Path) -> VQGANConfig | None:
    for candidate in (path.with_suffix(".yaml"), path.parent / "model.yaml", path.parent.parent / "configs" / "model.yaml"):
        if candidate.is_file():
            import yaml

            try:
                data = yaml.safe_load(candidate.read_text())
                model = data["model"]
                target = str(model.get("target", ""))
                if "Gumbel" in target:
                    raise WeightsError(_gumbel_message(path))
                cfg = VQGANConfig.from_taming_yaml(model["params"])
            except WeightsError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise WeightsError(
                    f"'{candidate}' is not a taming model.yaml (expected model.params.ddconfig, embed_dim, "
                    f"n_embed; {type(exc).__name__}: {exc}); fix or remove it to infer the config from the weights"
                ) from exc
            log.info("VQGAN config from %s", candidate)
            return cfg
    return None


def _gumbel_message(path: Path) -> str:
    return (
        f"'{path}' is a Gumbel-softmax VQGAN (quantize.proj / quantize.embed), which is not supported; "
        "use vqgan_imagenet_f16_16384 or vqgan_imagenet_f16_1024"
    )


def _check_before_building(cfg: VQGANConfig, found: dict[str, tuple[int, ...]], file_bytes: int, source: str) -> None:
    """The config's size (exact, from a meta-device build) must fit this machine, and the file's
    tensor names and shapes must be exactly the model's: all before anything real is allocated."""
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in VQGAN(cfg).state_dict().items()}
    except Exception as exc:  # noqa: BLE001 - a config our VQGAN cannot be built from: one line
        raise WeightsError(f"the VQGAN config of '{source}' does not build a model ({type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:160]}); convert the weights again") from None
    check_model_fits(expected.values(), file_bytes, source, "VQGAN")
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = [f"{k} {list(found[k])} vs {list(expected[k])}" for k in sorted(set(expected) & set(found)) if found[k] != expected[k]]
    if missing or unexpected or wrong:
        raise WeightsError(
            f"weights in '{source}' do not fit the VQGAN config {cfg.to_json()} (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}, shapes that differ {wrong[:3]}); put the model's model.yaml beside the file, "
            "or use a taming VQModel checkpoint"
        )


def _metadata_config(text: str, path: Path) -> VQGANConfig:
    return metadata_config({CONFIG_KEY: text}, CONFIG_KEY, VQGANConfig.from_dict, path, "a VQGAN config")


def load_vqgan(path: str | os.PathLike, device: torch.device | str = "cpu", dtype=torch.float32) -> VQGAN:
    """Load a VQGAN for inference (eval mode, parameters frozen). A safetensors file is read
    header first: its config and tensor shapes are checked before any tensor is read."""
    path = Path(path)
    if path.suffix == SAFETENSORS_SUFFIX:
        header, metadata = read_safetensors_header(path)
        shapes = {k: torch.empty(shape, device="meta") for k, (shape, _) in header.items()}  # shapes only, no memory
        state = None
    else:  # pickled checkpoints have no header: read (memory-mapped), then checked the same way
        state, metadata = read_weights(path)
        header = tensor_shapes(state)
        state = normalize_state_dict(state)
        shapes = state
    shapes = normalize_state_dict(shapes)
    if "quantize.embed.weight" in shapes or "quantize.proj.weight" in shapes:
        raise WeightsError(_gumbel_message(path))
    if CONFIG_KEY in metadata:
        cfg = _metadata_config(metadata[CONFIG_KEY], path)
    else:
        try:
            cfg = _yaml_config(path) or infer_config(shapes)
        except InputError as exc:  # the config's own bounds, on shapes read from the file
            raise WeightsError(f"'{path}' is not a VQGAN this pack builds: {exc}") from None
    _check_before_building(cfg, {k: tuple(v.shape) for k, v in shapes.items()}, sum(n for _, n in header.values()), str(path))
    if state is None:
        state = normalize_state_dict(read_weights(path)[0])
    return build_vqgan(cfg, state, source=str(path), device=device, dtype=dtype)


def build_vqgan(cfg: VQGANConfig, state: dict, source: str, device="cpu", dtype=torch.float32) -> VQGAN:
    try:
        with torch.device("meta"):
            model = VQGAN(cfg)
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
        if cfg.quantizer == "fsq":  # its buffers derive from the config (not stored): build them for real
            model.quantize = FSQ(cfg.fsq_levels)
    except Exception as exc:  # noqa: BLE001 - shape or key mismatch: one line
        first = str(exc).replace("\n", " ").replace("\t", " ")
        raise WeightsError(
            f"weights in '{source}' do not fit the VQGAN config {cfg.to_json()} ({first[:300]}); "
            "put the model's model.yaml beside the file, or use a taming VQModel checkpoint"
        ) from None
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)


def random_vqgan(cfg: VQGANConfig, seed: int = 0, device="cpu") -> VQGAN:
    """An untrained VQGAN of a named architecture, seeded. A VQ codebook is spread like a trained
    one (uniform in [-1, 1]), so random codes decode to varied colours."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VQGAN(cfg)
        if cfg.quantizer == "vq":
            torch.nn.init.uniform_(model.quantize.embedding.weight, -1.0, 1.0)
    return model.to(device).eval().requires_grad_(False)


def save_vqgan(model: VQGAN, path: str | os.PathLike, dtype: torch.dtype = torch.float32, extra: dict | None = None):
    """Write our own format: safetensors whose metadata carries the config, so the file rebuilds itself."""
    tensors = {k: v.to(dtype) for k, v in model.state_dict().items()}
    metadata = {FORMAT_KEY: "vqgan", CONFIG_KEY: model.cfg.to_json(), **(extra or {})}
    return write_safetensors(path, tensors, metadata)


def convert_vqgan(src: str | os.PathLike, dst: str | os.PathLike, dtype: torch.dtype = torch.float32) -> VQGANConfig:
    """`lag convert-weights`: any supported VQGAN file -> our safetensors (config in metadata)."""
    model = load_vqgan(src)
    save_vqgan(model, dst, dtype=dtype, extra={"lag_source": Path(src).name})
    return model.cfg
