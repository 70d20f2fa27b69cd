"""The three ONNX graphs of a tokens-kind bundle (DESIGN.md section 3) and model.json."""
import json
import os
import warnings

import onnx
import torch
from torch import nn

from .model import Sine

OPSET = 17


class EncoderGraph(nn.Module):
    """image [B,3,S,S] (normalised, padded) -> features [B,C,S/14,S/14]. The ViT's
    position table for the fixed input size S is computed once and stored."""

    def __init__(self, model: Sine):
        super().__init__()
        self.encoder = model.image_encoder
        s = model.cfg.input_size
        with torch.no_grad():
            self.register_buffer("position", model.image_encoder.encoder.position_table(s, s).detach().clone())

    def forward(self, image):
        return self.encoder(image, self.position)


class PoolGraph(nn.Module):
    """features [1,C,h,w], masks [K,1,S,S] -> sums [K,C], areas [K] (SINE's mask
    pooling at the mask-feature size 4h x 4w, kept as sums so memory entries add up)."""

    def __init__(self, model: Sine):
        super().__init__()
        self.decoder = model.transformer_decoder

    def forward(self, features, masks):
        return self.decoder.pool_sums(features, masks, self.decoder.mask_size(features))


class DecoderGraph(nn.Module):
    """features [1,C,h,w], id_tokens [1,N,C] -> id_logits, id_masks, ins_logits, ins_masks."""

    def __init__(self, model: Sine):
        super().__init__()
        self.decoder = model.transformer_decoder

    def forward(self, features, id_tokens):
        return self.decoder(features, id_tokens)


def _export(module, args, path, inputs, outputs, dynamic):
    with warnings.catch_warnings():
        # Known and harmless with torch 1.13: shape inference notes on constants, and the
        # tracer turning static sizes (head width, grid side) into constants.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                          opset_version=OPSET, do_constant_folding=True)
    onnx.checker.check_model(path, full_check=True)


def export_bundle(model: Sine, folder: str, description: str, license_text: str, log=print) -> dict:
    """Writes encoder.onnx, pool.onnx, decoder.onnx and model.json into folder."""
    cfg = model.cfg
    model.eval()
    os.makedirs(folder, exist_ok=True)
    s, c, g = cfg.input_size, cfg.channels, cfg.grid
    with torch.no_grad():
        image = torch.zeros(1, 3, s, s)
        log(f"encoder: {cfg.vit_depth} blocks of width {cfg.vit_dim} at {s}x{s} -> {c}x{g}x{g}")
        _export(EncoderGraph(model), (image,), os.path.join(folder, "encoder.onnx"),
                ["image"], ["features"], {"image": {0: "batch"}, "features": {0: "batch"}})
        features = torch.randn(1, c, g, g)
        masks = (torch.rand(2, 1, s, s) > 0.5).float()
        log("pool")
        _export(PoolGraph(model), (features, masks), os.path.join(folder, "pool.onnx"),
                ["features", "masks"], ["sums", "areas"],
                {"masks": {0: "k"}, "sums": {0: "k"}, "areas": {0: "k"}})
        tokens = torch.randn(1, 2, c)
        log(f"decoder: {cfg.depth} layers, {cfg.num_queries} instance queries")
        _export(DecoderGraph(model), (features, tokens), os.path.join(folder, "decoder.onnx"),
                ["features", "id_tokens"], ["id_logits", "id_masks", "ins_logits", "ins_masks"],
                {"id_tokens": {1: "n"}, "id_logits": {1: "n"}, "id_masks": {1: "n"}, "ins_logits": {2: "n_plus_1"}})
    manifest = {
        "name": cfg.name,
        "version": "1",
        "description": description,
        "license": license_text,
        "memory_kind": "tokens",
        "input_size": s,
        "pad_size": s,
        "channel_order": "rgb",
        "pixel_scale": 1 / 255,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "feature_channels": c,
        "feature_stride": cfg.patch_size,
        "mask_scale": 4,
        "instance_source": "model",
        "memory": {"capacity": 6, "fix_first_frame": True, "decay_ratio": 20},
        "files": {"encoder": "encoder.onnx", "decoder": "decoder.onnx", "pool": "pool.onnx"},
    }
    with open(os.path.join(folder, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest
