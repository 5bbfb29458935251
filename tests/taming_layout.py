"""An independent statement of taming-transformers' VQModel state-dict layout, written from
taming's `Encoder` / `Decoder` / `VectorQuantizer` constructors (not from our modules), used
to check that our clean-room VQGAN is key-for-key and shape-for-shape compatible."""

from __future__ import annotations


def taming_vqmodel_shapes(ch, ch_mult, num_res_blocks, attn_resolutions, resolution, z_channels, embed_dim, n_embed,
                          in_channels=3, out_ch=3, double_z=False):
    shapes = {}

    def conv(name, cin, cout, k):
        shapes[f"{name}.weight"] = (cout, cin, k, k)
        shapes[f"{name}.bias"] = (cout,)

    def norm(name, c):
        shapes[f"{name}.weight"] = (c,)
        shapes[f"{name}.bias"] = (c,)

    def resblock(name, cin, cout):
        norm(f"{name}.norm1", cin)
        conv(f"{name}.conv1", cin, cout, 3)
        norm(f"{name}.norm2", cout)
        conv(f"{name}.conv2", cout, cout, 3)
        if cin != cout:
            conv(f"{name}.nin_shortcut", cin, cout, 1)

    def attn(name, c):
        norm(f"{name}.norm", c)
        for part in ("q", "k", "v", "proj_out"):
            conv(f"{name}.{part}", c, c, 1)

    levels = len(ch_mult)
    # Encoder
    conv("encoder.conv_in", in_channels, ch, 3)
    in_mult = (1, *ch_mult)
    res = resolution
    for i in range(levels):
        bin_, bout = ch * in_mult[i], ch * ch_mult[i]
        for j in range(num_res_blocks):
            resblock(f"encoder.down.{i}.block.{j}", bin_, bout)
            bin_ = bout
            if res in attn_resolutions:
                attn(f"encoder.down.{i}.attn.{j}", bin_)
        if i != levels - 1:
            conv(f"encoder.down.{i}.downsample.conv", bin_, bin_, 3)
            res //= 2
    resblock("encoder.mid.block_1", bin_, bin_)
    attn("encoder.mid.attn_1", bin_)
    resblock("encoder.mid.block_2", bin_, bin_)
    norm("encoder.norm_out", bin_)
    conv("encoder.conv_out", bin_, 2 * z_channels if double_z else z_channels, 3)
    # Decoder
    bin_ = ch * ch_mult[-1]
    res = resolution // 2 ** (levels - 1)
    conv("decoder.conv_in", z_channels, bin_, 3)
    resblock("decoder.mid.block_1", bin_, bin_)
    attn("decoder.mid.attn_1", bin_)
    resblock("decoder.mid.block_2", bin_, bin_)
    for i in reversed(range(levels)):
        bout = ch * ch_mult[i]
        for j in range(num_res_blocks + 1):
            resblock(f"decoder.up.{i}.block.{j}", bin_, bout)
            bin_ = bout
            if res in attn_resolutions:
                attn(f"decoder.up.{i}.attn.{j}", bin_)
        if i != 0:
            conv(f"decoder.up.{i}.upsample.conv", bin_, bin_, 3)
            res *= 2
    norm("decoder.norm_out", bin_)
    conv("decoder.conv_out", bin_, out_ch, 3)
    # Quantizer and 1x1 convs
    shapes["quantize.embedding.weight"] = (n_embed, embed_dim)
    conv("quant_conv", z_channels, embed_dim, 1)
    conv("post_quant_conv", embed_dim, z_channels, 1)
    return shapes
