"""SINE = image encoder + M-Former, with the official checkpoint's names, and its configurations."""
import dataclasses

import torch
from torch import nn

from .encoder import ImageEncoder
from .mformer import MFormer
from .vit import VisionTransformer


@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    vit_dim: int = 1024
    vit_depth: int = 24
    vit_heads: int = 16
    patch_size: int = 14
    pos_table_size: int = 518          # the ViT's position table covers 518/14 = 37 patches a side
    layer_scale_init: float = 1e-5
    channels: int = 256                # neck output = decoder width
    depth: int = 6
    heads: int = 8
    mlp_dim: int = 2048
    fusion_depth: int = 1
    num_queries: int = 200
    input_size: int = 1036             # frames: longer side resized to this, then padded square

    @property
    def grid(self) -> int:
        return self.input_size // self.patch_size


# The released SINE model: DINOv2 ViT-L/14, 256 channels, 6 decoder layers, 200 queries, 1036 input.
SINE_VITL = Config(name="sine-vitl14")

# Small configurations with random weights, for tests and benchmarks (nothing to download).
RANDOM_CONFIGS = {
    "small": Config(name="sine-small-random", vit_dim=384, vit_depth=2, vit_heads=6, channels=128,
                    depth=2, heads=8, mlp_dim=512, num_queries=20, input_size=224),
    # The released architecture at full size: for latency and memory measurements without the weights.
    "large": dataclasses.replace(SINE_VITL, name="sine-vitl14-random"),
    "tiny": Config(name="sine-tiny-random", vit_dim=192, vit_depth=1, vit_heads=3, channels=64,
                   depth=1, heads=4, mlp_dim=128, num_queries=8, input_size=112),
}


class Sine(nn.Module):
    """Top-level module; its state dict keys are those of SINE's pytorch_model.bin
    (`image_encoder.encoder.*` = DINOv2, `image_encoder.neck.*`, `transformer_decoder.*`)."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        vit = VisionTransformer(embed_dim=cfg.vit_dim, depth=cfg.vit_depth, num_heads=cfg.vit_heads,
                                patch_size=cfg.patch_size, img_size=cfg.pos_table_size,
                                init_value=cfg.layer_scale_init)
        self.image_encoder = ImageEncoder(vit, cfg.channels)
        self.transformer_decoder = MFormer(dim=cfg.channels, depth=cfg.depth, heads=cfg.heads, mlp_dim=cfg.mlp_dim,
                                           mask_dim=cfg.channels, fusion_depth=cfg.fusion_depth,
                                           num_queries=cfg.num_queries)


def randomize(model: Sine, seed: int) -> Sine:
    """Random weights that exercise every part of the model: weights normal with
    variance 1/fan-in, biases small, norm affines near identity, embeddings of unit
    scale, LayerScale gammas of order 0.3 (the official 1e-5 init would make the ViT
    blocks nearly no-ops), the decoder's temperature and logit scale at their inits."""
    from .norms import ChannelLayerNorm
    from .vit import LayerScale

    g = torch.Generator().manual_seed(seed)

    def normal(shape, scale=1.0, mean=0.0):
        return mean + scale * torch.randn(shape, generator=g)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.LayerNorm, ChannelLayerNorm)):
                module.weight.copy_(normal(module.weight.shape, 0.1, 1.0))
                module.bias.copy_(normal(module.bias.shape, 0.1))
            elif isinstance(module, LayerScale):
                module.gamma.copy_(normal(module.gamma.shape, 0.1, 0.3))
            elif isinstance(module, nn.ConvTranspose2d):
                module.weight.copy_(normal(module.weight.shape, module.weight.shape[0] ** -0.5))
                module.bias.copy_(normal(module.bias.shape, 0.05))
            elif isinstance(module, (nn.Linear, nn.Conv2d)):
                module.weight.copy_(normal(module.weight.shape, module.weight[0].numel() ** -0.5))
                if module.bias is not None:
                    module.bias.copy_(normal(module.bias.shape, 0.05))
            elif isinstance(module, nn.Embedding):
                module.weight.copy_(normal(module.weight.shape))
        for name, p in model.named_parameters(recurse=True):
            if name.endswith("in_proj_weight"):
                p.copy_(normal(p.shape, p.shape[1] ** -0.5))
            elif name.endswith("in_proj_bias"):
                p.copy_(normal(p.shape, 0.05))
        vit = model.image_encoder.encoder
        vit.cls_token.copy_(normal(vit.cls_token.shape))
        vit.pos_embed.copy_(normal(vit.pos_embed.shape))
        vit.mask_token.copy_(normal(vit.mask_token.shape))
    return model


# -- loading the official weights --------------------------------------------------

def _read(path: str) -> dict:
    state = torch.load(path, map_location="cpu")
    for key in ("model", "state_dict", "module"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    return state


def read_dinov2(path: str) -> dict:
    """A DINOv2 checkpoint as SINE reads it: the 'teacher' entry when there is one,
    'module.' and 'backbone.' prefixes removed."""
    state = torch.load(path, map_location="cpu")
    if "teacher" in state:
        state = state["teacher"]
    return {k.replace("module.", "").replace("backbone.", ""): v for k, v in state.items()}


def load_official(model: Sine, sine_path: str, dinov2_path: str = None) -> list:
    """Loads SINE's checkpoint (and DINOv2's, when SINE's has no encoder weights) with
    strict=True. Returns the checkpoint keys that belong to no inference module
    (training-only state such as criterion buffers), which are reported, not loaded."""
    sine = {k[len("module."):] if k.startswith("module.") else k: v for k, v in _read(sine_path).items()}
    prefixes = ("image_encoder.", "transformer_decoder.")
    ignored = sorted(k for k in sine if not k.startswith(prefixes))
    state = {k: v for k, v in sine.items() if k.startswith(prefixes)}
    vit_prefix = "image_encoder.encoder."
    if dinov2_path:
        for k, v in read_dinov2(dinov2_path).items():
            state.setdefault(vit_prefix + k, v)       # SINE's own copy of the frozen ViT wins
    elif not any(k.startswith(vit_prefix) for k in state):
        raise SystemExit(f"{sine_path} holds no DINOv2 encoder weights: pass --dinov2-weights "
                         "(dinov2_vitl14_pretrain.pth)")
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return ignored
