"""CLIP through open_clip (Radford et al., 2021; Cherti et al., 2023), loaded from what the user has.

`load_clip(source)` takes one source string (names, presets and search folders are resolved
before, by `lag_core.models`):

* `/path/model.safetensors` written by `lag convert-weights`: the file carries its architecture.
* `/path/folder/` with `open_clip_config.json` and a weights file (open_clip's `local-dir` layout).
* `ARCH:/path/weights.safetensors|.bin|.pt`: a built-in open_clip architecture plus a local file.
* `ARCH:random`: that architecture, randomly initialised from `seed` (benchmarks and tests).
* `ARCH:TAG` (e.g. `ViT-B-32-quickgelu:openai`): a pretrained tag from open_clip's list, taken from
  the local cache, and downloaded only when `allow_download=True` (CLI `--download`).

`random_clip(arch, cfg, seed)` builds a named architecture (`model_configs/clip/`) untrained.
Weights always go through `safeload.read_weights`: nothing in a weight file can run code.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from .errors import WeightsError
from .memory import check_model_fits
from .safeload import (
    FORMAT_KEY,
    SAFETENSORS_SUFFIX,
    read_safetensors_header,
    read_weights,
    tensor_shapes,
    write_safetensors,
)

log = logging.getLogger("lag")

CLIP_CONFIG_KEY = "lag_clip_config"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


@dataclass
class ClipModel:
    """A frozen CLIP with what the sampler needs around it."""

    model: torch.nn.Module
    tokenizer: object
    model_id: str
    model_cfg: dict
    mean: tuple[float, ...] = OPENAI_MEAN
    std: tuple[float, ...] = OPENAI_STD
    _norm: dict = field(default_factory=dict, repr=False)

    @property
    def image_size(self) -> int:
        size = self.model_cfg["vision_cfg"].get("image_size", 224)
        return int(size[0] if isinstance(size, (list, tuple)) else size)

    @property
    def embed_dim(self) -> int:
        return int(self.model_cfg["embed_dim"])

    @property
    def context_length(self) -> int:
        return int(self.model_cfg.get("text_cfg", {}).get("context_length", 77))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device) -> ClipModel:
        self.model.to(device)
        self._norm.clear()
        return self

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        return self.tokenizer(texts).to(self.device)  # [N, context]

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """Unit text embeddings `[N, D]`, no gradient (callers compute them once per run, not per step)."""
        return F.normalize(self.model.encode_text(self.tokenize(texts)).float(), dim=-1)

    def normalize_pixels(self, images: torch.Tensor) -> torch.Tensor:
        """`[B, 3, S, S]` in 0..1 -> CLIP's input normalisation."""
        key = (images.device, images.dtype)
        if key not in self._norm:
            mean = torch.tensor(self.mean, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
            std = torch.tensor(self.std, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
            self._norm[key] = (mean, std)
        mean, std = self._norm[key]
        return (images - mean) / std

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Raw image features `[B, D]`: not normalised, differentiable, for `[B, 3, S, S]` in 0..1 at
        CLIP's input size `S` (the sampler's cutouts)."""
        return self.model.encode_image(self.normalize_pixels(images))

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Unit image embeddings `[B, D]`, no gradient, for `[B, 3, H, W]` in 0..1 of any size
        (resized to CLIP's input size first): image prompts, reference images, evaluation."""
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            images = F.interpolate(images, size=(self.image_size, self.image_size), mode="bicubic", antialias=True)
        return F.normalize(self.image_features(images.clamp(0, 1)).float(), dim=-1)


def _register_config(name: str, cfg: dict) -> str:
    """Register an architecture with open_clip under `name` (its public `add_model_config`)."""
    import open_clip

    if name in open_clip.list_models():
        return name
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.json"
        path.write_text(json.dumps(cfg))
        open_clip.add_model_config(path)
    return name


def _tokenizer_for(arch: str | None, cfg: dict):
    import open_clip
    from open_clip.tokenizer import SimpleTokenizer

    text_cfg = cfg.get("text_cfg", {})
    if text_cfg.get("hf_tokenizer_name") and arch:
        return open_clip.get_tokenizer(arch)
    return SimpleTokenizer(context_length=int(text_cfg.get("context_length", 77)))


class _QuietRandomInit(logging.Filter):
    """open_clip warns on the root logger that a model without `pretrained` is random: we load the
    weights ourselves right after, so that warning would only mislead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


# Sizes no CLIP comes near (open_clip's largest: width 1792, 48 layers, a 250k vocabulary). A
# config beyond them is not a CLIP this pack builds; refused before any model, even an empty one
# on the meta device, is constructed.
_CFG_BOUNDS = {"embed_dim": 32768, "width": 32768, "layers": 256, "heads": 1024, "head_width": 8192,
               "patch_size": 1024, "image_size": 4096, "context_length": 8192, "vocab_size": 1 << 22}
# Config entries that make open_clip fetch from Hugging Face's hub (a text tower, a tokenizer).
_HUB_KEYS = ("hf_model_name", "hf_tokenizer_name")


def _check_cfg(cfg, source: str) -> None:
    """The config is an open_clip model config of sane size (numbers checked, nothing built)."""
    if not isinstance(cfg, dict) or not isinstance(cfg.get("vision_cfg"), dict) or not isinstance(cfg.get("text_cfg"), dict):
        raise WeightsError(
            f"the CLIP config of '{source}' is not an open_clip model config (expected an object with embed_dim, "
            "vision_cfg and text_cfg); convert the weights again or pass a built-in architecture as ARCH:FILE"
        )
    for where, section in (("", cfg), ("vision_cfg.", cfg["vision_cfg"]), ("text_cfg.", cfg["text_cfg"])):
        for key, bound in _CFG_BOUNDS.items():
            if key not in section:
                continue
            value = section[key]
            values = list(value) if isinstance(value, (list, tuple)) else [value]
            if not values or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= bound for v in values):
                raise WeightsError(
                    f"the CLIP config of '{source}' has {where}{key} = {json.dumps(value)[:60]}; expected whole numbers "
                    f"from 1 to {bound} (no CLIP is larger): the file is not a CLIP this pack builds"
                )
        ratio = section.get("mlp_ratio", 4.0)
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 64:
            raise WeightsError(f"the CLIP config of '{source}' has {where}mlp_ratio = {json.dumps(ratio)[:60]}; expected a number in (0, 64]")


def _hub_needs(cfg: dict) -> list[str]:
    text_cfg = cfg.get("text_cfg") or {}
    return [f"{key} '{text_cfg[key]}'" for key in _HUB_KEYS if text_cfg.get(key)]


def _meta_shapes(arch: str, cfg: dict, source: str) -> dict[str, tuple[int, ...]]:
    """The state dict shapes of `arch`, from a model built on the meta device (no memory)."""
    import open_clip

    _register_config(arch, cfg)
    quiet = _QuietRandomInit()
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        with torch.device("meta"):
            model = open_clip.create_model(arch, pretrained=None, device="meta", pretrained_text=False)
    except Exception as exc:  # noqa: BLE001 - any config open_clip cannot build: one line
        raise WeightsError(
            f"the CLIP config of '{source}' does not build an open_clip model ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:160]}); convert the weights again or pass a built-in architecture as ARCH:FILE"
        ) from None
    finally:
        root.removeFilter(quiet)
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("attn_mask")}


def _plan(arch: str, cfg: dict, source: str, *, from_file: bool, allow_download: bool = False, file_bytes: int = 0):
    """Everything checked before a CLIP is built: the config (sizes; a config read from a file
    never names anything to download), then the exact parameter count from a meta-device build,
    whose float32 memory (plus the file's tensors while loading) must fit this machine.
    Returns the expected state dict shapes."""
    _check_cfg(cfg, source)
    hub = _hub_needs(cfg)
    if hub and from_file:
        raise WeightsError(
            f"'{source}' asks for parts fetched from Hugging Face's hub ({', '.join(hub)}); a file's own config never "
            "downloads anything. Load its weights with a built-in open_clip architecture instead: ARCH:FILE with --download"
        )
    if hub and not allow_download:
        raise WeightsError(
            f"CLIP architecture '{arch}' needs {', '.join(hub)} from Hugging Face's hub, which is fetched only when "
            "downloads are allowed: pass --download (Load CLIP: allow_download), or pick an architecture without them"
        )
    shapes = _meta_shapes(arch, cfg, source)
    check_model_fits(shapes.values(), file_bytes, source, "CLIP")
    return shapes


def _build(arch: str, cfg: dict, seed: int | None = None) -> torch.nn.Module:
    """The real model (random init from `seed`); call `_plan` first."""
    import open_clip

    _register_config(arch, cfg)
    quiet = _QuietRandomInit()
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            # pretrained_text=False: an HF text tower's weights come from our file, not the hub.
            model = open_clip.create_model(arch, pretrained=None, pretrained_text=False)
    finally:
        root.removeFilter(quiet)
    return model


def _create(arch: str, cfg: dict, seed: int | None = None, allow_download: bool = False) -> torch.nn.Module:
    """A randomly initialised model of a config the pack ships or open_clip has built in."""
    _plan(arch, cfg, f"{arch}:random", from_file=False, allow_download=allow_download)
    return _build(arch, cfg, seed)


def _file_tensors(path: Path):
    """`({name: (shape, nbytes)}, metadata, state or None)`: from the safetensors header alone,
    or from the tensors of a pickled checkpoint (which has no header: read, memory-mapped)."""
    if path.suffix == SAFETENSORS_SUFFIX:
        shapes, metadata = read_safetensors_header(path)
        return shapes, metadata, None
    state, metadata = read_weights(path)
    return tensor_shapes(state), metadata, state


def _check_tensors(expected: dict, found: dict, weights: Path, what: str, fix: str) -> None:
    """The file's tensor names and shapes are exactly the model's (before the model exists)."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(k for k in set(found) - set(expected) if not k.endswith("attn_mask"))
    wrong = [f"{k} {list(found[k][0])} vs {list(expected[k])}" for k in sorted(set(expected) & set(found)) if found[k][0] != expected[k]]
    if missing or unexpected or wrong:
        more = lambda items: f"{items[:3]}{'...' if len(items) > 3 else ''}"  # noqa: E731
        raise WeightsError(
            f"CLIP weights '{weights}' {what} (missing {more(missing)}, unexpected {more(unexpected)}, "
            f"shapes that differ {more(wrong)}); {fix}"
        )


def _load_checked(arch: str, cfg: dict, weights: Path, source: str, allow_download: bool) -> torch.nn.Module:
    """A built-in architecture plus a weights file: the file's header is read and checked against
    the architecture before anything is built."""
    found, _, state = _file_tensors(weights)
    found = {k.removeprefix("module."): v for k, v in found.items()}
    expected = _plan(arch, cfg, f"{arch}:{weights.name}", from_file=False, allow_download=allow_download,
                     file_bytes=sum(n for _, n in found.values()))
    _check_tensors(expected, found, weights, f"do not fit architecture '{source}'",
                   "pick the architecture the file was trained with (e.g. ViT-B-32-quickgelu for OpenAI weights)")
    model = _build(arch, cfg)
    _load_into(model, weights, source, state)
    return model


def _load_into(model: torch.nn.Module, weights: Path, source: str, state: dict | None = None) -> None:
    if state is None:
        state, _ = read_weights(weights)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("attn_mask")]
    if missing or unexpected:
        raise WeightsError(
            f"CLIP weights '{weights}' do not fit architecture '{source}' "
            f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, unexpected {unexpected[:3]}); "
            "pick the architecture the file was trained with (e.g. ViT-B-32-quickgelu for OpenAI weights)"
        )


def _batch_first_attention(block, q_x, k_x=None, v_x=None, attn_mask=None):
    """open_clip's `ResidualAttentionBlock.attention` for plain self-attention on batch-first
    tokens `[N, L, E]`: one linear for q, k, v, then SDPA. `nn.MultiheadAttention(batch_first=True)`
    does the same maths but transposes to sequence-first inside and projects through a batched
    matmul over the strided view, which costs about 10% of a ViT's forward + backward on a CPU."""
    if k_x is not None or v_x is not None or attn_mask is not None:
        return type(block).attention(block, q_x, k_x, v_x, attn_mask)
    attn = block.attn
    n, length, width = q_x.shape
    heads = attn.num_heads
    qkv = F.linear(q_x, attn.in_proj_weight, attn.in_proj_bias)  # [N, L, 3E]
    q, k, v = qkv.view(n, length, 3, heads, width // heads).permute(2, 0, 3, 1, 4)  # 3 x [N, H, L, E/H]
    out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, length, width)  # [N, L, E]
    return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)


def _use_batch_first_attention(model: torch.nn.Module) -> None:
    """Route open_clip's self-attention blocks that qualify through `_batch_first_attention`.
    Anything else (sequence-first transformers, key/value biases, dropout,
    masks) keeps open_clip's own path. A partial rather than a bound method, so the model still
    pickles and deep-copies."""
    try:
        from open_clip.transformer import ResidualAttentionBlock
    except ImportError:  # another open_clip layout: keep its own attention
        return
    for block in model.modules():
        attn = getattr(block, "attn", None)
        if (
            isinstance(block, ResidualAttentionBlock)
            and isinstance(attn, torch.nn.MultiheadAttention)
            and attn.batch_first
            and attn._qkv_same_embed_dim
            and attn.in_proj_weight is not None
            and attn.bias_k is None
            and attn.bias_v is None
            and not attn.add_zero_attn
            and attn.dropout == 0.0
            and not hasattr(block, "ln_1_kv")
        ):
            block.attention = functools.partial(_batch_first_attention, block)


def _finish(model, arch, cfg, model_id, preprocess, device) -> ClipModel:
    model = model.to(device).eval().requires_grad_(False)
    _use_batch_first_attention(model)
    mean = tuple(preprocess.get("mean", OPENAI_MEAN)) if preprocess else OPENAI_MEAN
    std = tuple(preprocess.get("std", OPENAI_STD)) if preprocess else OPENAI_STD
    return ClipModel(model=model, tokenizer=_tokenizer_for(arch, cfg), model_id=model_id, model_cfg=cfg, mean=mean, std=std)


def _file_id(path: Path) -> str:
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]


def random_clip(arch: str, cfg: dict, seed: int = 0, device="cpu") -> ClipModel:
    """An untrained CLIP of architecture `cfg` (registered with open_clip as `arch`), seeded."""
    model = _create(arch, cfg, seed=seed)
    return _finish(model, None, cfg, f"{arch}:random-seed{seed}", None, device)


def load_clip(
    spec: str,
    device: torch.device | str = "cpu",
    *,
    allow_download: bool = False,
    cache_dir: str | None = None,
    seed: int = 0,
) -> ClipModel:
    """Load a frozen CLIP from a source string (see the module docstring)."""
    spec = spec.strip()
    if not spec:
        raise WeightsError("empty CLIP spec; expected a preset, a weights file, a folder, or ARCH:TAG")
    path = Path(spec).expanduser()
    if path.is_dir():
        return _load_folder(path, device)
    if path.is_file():
        return _load_own_file(path, device)

    arch, sep, rest = spec.partition(":")
    if not sep:
        raise WeightsError(
            f"CLIP spec '{spec}' is neither an existing file or folder nor ARCH:TAG / ARCH:FILE; "
            "e.g. ViT-B-32-quickgelu:openai or ViT-B-32:/path/open_clip_model.safetensors"
        )
    import open_clip

    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        raise WeightsError(f"unknown open_clip architecture '{arch}'; `python -c \"import open_clip; print(open_clip.list_models())\"` lists them")
    if rest == "random":  # an untrained model of a real architecture: benchmarks and tests only
        model = _create(arch, cfg, seed=seed, allow_download=allow_download)
        return _finish(model, arch, cfg, f"{arch}:random-seed{seed}", None, device)
    weights = Path(rest).expanduser()
    if weights.suffix in WEIGHT_SUFFIXES or os.sep in rest:
        if not weights.is_file():
            raise WeightsError(f"CLIP weights file '{weights}' does not exist; check the path")
        model = _load_checked(arch, cfg, weights, arch, allow_download)
        return _finish(model, arch, cfg, f"{arch}:{weights.name}:{_file_id(weights)}", None, device)
    return _load_pretrained_tag(arch, rest, cfg, device, allow_download, cache_dir)


def _read_json(text: str, where: str, expected: str):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{where} is not valid JSON ({type(exc).__name__}); expected {expected}; convert the weights again") from None


def _cfg_arch(prefix: str, cfg: dict) -> str:
    """An open_clip registry name that changes with the config (a cache key by content)."""
    return prefix + hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]


def _load_folder(path: Path, device) -> ClipModel:
    config_file = path / "open_clip_config.json"
    if not config_file.is_file():
        raise WeightsError(f"CLIP folder '{path}' has no open_clip_config.json; expected open_clip's local-dir layout")
    data = _read_json(config_file.read_bytes(), f"'{config_file}'", "open_clip's local-dir layout")
    cfg = data.get("model_cfg") if isinstance(data, dict) else None
    if not cfg:
        raise WeightsError(f"'{config_file}' has no 'model_cfg' entry; expected open_clip's local-dir layout")
    candidates = sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    preferred = [p for p in candidates if p.suffix == ".safetensors"] or candidates
    if not preferred:
        raise WeightsError(f"CLIP folder '{path}' has no weights file ({', '.join(WEIGHT_SUFFIXES)})")
    weights = preferred[0]
    _check_cfg(cfg, str(config_file))
    arch = _cfg_arch("lag-dir-", cfg)
    found, _, state = _file_tensors(weights)
    found = {k.removeprefix("module."): v for k, v in found.items()}
    expected = _plan(arch, cfg, str(config_file), from_file=True, file_bytes=sum(n for _, n in found.values()))
    _check_tensors(expected, found, weights, f"do not fit the config in '{config_file}'", "put the matching open_clip_config.json beside them")
    model = _build(arch, cfg)
    _load_into(model, weights, str(path), state)
    preprocess = data.get("preprocess_cfg") if isinstance(data.get("preprocess_cfg"), dict) else None
    return _finish(model, arch, cfg, f"dir:{path.name}:{_file_id(weights)}", preprocess, device)


def _load_own_file(path: Path, device) -> ClipModel:
    """A file written by `save_clip`: its metadata carries the config. Only the header is read
    until the config and the tensors' names and shapes have been checked against each other."""
    found, metadata, state = _file_tensors(path)
    if CLIP_CONFIG_KEY not in metadata:
        raise WeightsError(
            f"'{path}' does not say which CLIP architecture it is; pass ARCH:{path} (e.g. ViT-B-32:{path}) "
            "or convert it once with `lag convert-weights --clip-arch ARCH`"
        )
    info = _read_json(metadata[CLIP_CONFIG_KEY], f"the {CLIP_CONFIG_KEY} metadata of '{path}'", "the JSON `lag convert-weights` writes")
    cfg = info.get("model_cfg") if isinstance(info, dict) else None
    _check_cfg(cfg, str(path))
    arch = _cfg_arch("lag-file-", cfg)
    expected = _plan(arch, cfg, str(path), from_file=True, file_bytes=sum(n for _, n in found.values()))
    _check_tensors(expected, found, path, "do not match the file's own config", "convert it again")
    if state is None:
        state, _ = read_weights(path)
    model = _build(arch, cfg)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    model_id = info.get("model_id") if isinstance(info.get("model_id"), str) else f"{path.stem}:{_file_id(path)}"
    preprocess = info.get("preprocess_cfg") if isinstance(info.get("preprocess_cfg"), dict) else None
    return _finish(model, arch, cfg, model_id, preprocess, device)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Only called when the user asked for a download: fail in seconds, not after a minute of retries."""
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _cached_pretrained(pcfg: dict, cache_dir: str | None) -> str | None:
    """The local file for a pretrained tag if it is already cached; never touches the network."""
    if pcfg.get("file"):
        return pcfg["file"]
    hub = pcfg.get("hf_hub", "")
    if hub:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            try_to_load_from_cache = None
        if try_to_load_from_cache is not None:
            repo, filename = os.path.split(hub.rstrip("/")) if not hub.endswith("/") else (hub.rstrip("/"), "")
            for name in [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]:
                found = try_to_load_from_cache(repo, name, cache_dir=cache_dir)
                if isinstance(found, str) and os.path.isfile(found):
                    return found
    url = pcfg.get("url", "")
    if url:
        local = Path(cache_dir or Path.home() / ".cache" / "clip") / os.path.basename(url)
        if local.is_file():
            return str(local)
    return None


def _load_pretrained_tag(arch, tag, cfg, device, allow_download, cache_dir) -> ClipModel:
    import open_clip
    from open_clip.pretrained import download_pretrained, get_pretrained_cfg

    pcfg = get_pretrained_cfg(arch, tag)
    if not pcfg:
        tags = [t for a, t in open_clip.list_pretrained() if a == arch]
        raise WeightsError(f"open_clip has no pretrained tag '{tag}' for {arch}; known tags: {', '.join(tags) or 'none'}")
    where = cache_dir or "~/.cache/huggingface/hub (or ~/.cache/clip)"
    path = _cached_pretrained(pcfg, cache_dir)
    if not path:
        if not allow_download:
            raise WeightsError(
                f"CLIP weights {arch}:{tag} are not in the local cache ({where}); pass --download to fetch them "
                f"(needs internet), or download the open_clip weights file and pass {arch}:/path/to/file"
            )
        if not _hub_reachable():
            raise WeightsError(
                f"cannot download CLIP weights {arch}:{tag}: no internet connection; download the open_clip weights "
                f"file elsewhere and pass {arch}:/path/to/file, or put it in {where}"
            )
        path = download_pretrained(pcfg, cache_dir=cache_dir)
    model = _load_checked(arch, cfg, Path(path), arch, allow_download)
    preprocess = {k: pcfg[k] for k in ("mean", "std") if k in pcfg}
    return _finish(model, arch, cfg, f"{arch}:{tag}", preprocess, device)


def save_clip(clip: ClipModel, path: str | os.PathLike, dtype: torch.dtype = torch.float32) -> Path:
    """Write a CLIP as one safetensors file that carries its architecture (rebuilds with `load_clip(path)`)."""
    info = {"model_cfg": clip.model_cfg, "preprocess_cfg": {"mean": list(clip.mean), "std": list(clip.std)}, "model_id": clip.model_id}
    tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in clip.model.state_dict().items() if not k.endswith("attn_mask")}
    return write_safetensors(path, tensors, {FORMAT_KEY: "clip", CLIP_CONFIG_KEY: info})
