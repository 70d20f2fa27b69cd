"""The authors' own SINE modules and video memory, imported from the user's checkouts.

For check_modules.py and fidelity.py --sine-repo: they run SINE's image encoder
(inference_vos/model/image_encoder), its M-Former decoder
(inference_vos/model/transformer_decoder/mformer.py), DINOv2's vision transformer (from
a checkout of facebookresearch/dinov2: SINE's own copy lacks dinov2/models) and SINE's
video memory (inference_vos/inference/memory.py) on the same weights as this project's
modules. Nothing of either repository is copied here; two things they import that are
not installed on a plain PyTorch machine are stood in for:

- detectron2.layers.get_norm("LN", C), which the decoder uses only for its channel
  LayerNorm (eps 1e-6): this project's ChannelLayerNorm;
- torch.nn.functional.scaled_dot_product_attention, which DINOv2's attention calls and
  PyTorch < 2.0 (Debian 12's) lacks: softmax(q k^T / sqrt(d)) v, its definition, added
  only when PyTorch has none.
"""
import functools
import importlib.util
import os
import sys
import types
import warnings

import torch
from torch import nn
from torch.nn import functional as F

from .model import Config
from .norms import ChannelLayerNorm


def _stand_ins():
    layers = types.ModuleType("detectron2.layers")
    layers.get_norm = lambda kind, channels: ChannelLayerNorm(channels)
    sys.modules.setdefault("detectron2", types.ModuleType("detectron2"))
    sys.modules.setdefault("detectron2.layers", layers)
    if not hasattr(F, "scaled_dot_product_attention"):
        def attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
            if attn_mask is not None or is_causal or dropout_p:
                raise NotImplementedError("only plain attention is stood in for")
            return torch.softmax(q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5, dim=-1) @ v
        F.scaled_dot_product_attention = attention


class Original:
    """The authors' classes, imported from a SINE checkout and a DINOv2 checkout."""

    def __init__(self, sine_repo: str, dinov2_repo: str):
        sine_repo, dinov2_repo = os.path.abspath(sine_repo), os.path.abspath(dinov2_repo)
        for path, what in [(os.path.join(sine_repo, "inference_vos", "model", "transformer_decoder", "mformer.py"), "SINE"),
                           (os.path.join(dinov2_repo, "dinov2", "models", "vision_transformer.py"), "DINOv2")]:
            if not os.path.isfile(path):
                raise SystemExit(f"{path} not found: pass the root of a {what} checkout")
        _stand_ins()
        sys.path.insert(0, dinov2_repo)
        sys.path.insert(0, os.path.join(sine_repo, "inference_vos", "model"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")         # DINOv2's "xFormers is not available": it falls back by itself
            import dinov2.models.vision_transformer as vits
            from dinov2.layers import MemEffAttention
            from dinov2.layers.block import Block
            from image_encoder.dinov2 import DINOv2EncoderViT
            from transformer_decoder.mformer import MFormer

        self.vits, self.block, self.attention = vits, Block, MemEffAttention
        self.encoder_class, self.decoder_class = DINOv2EncoderViT, MFormer
        # memory.py only needs the standard library: loaded by path, so that its
        # package's __init__ files (which import SINE's data loaders) stay out of it.
        spec = importlib.util.spec_from_file_location(
            "sine_original_memory", os.path.join(sine_repo, "inference_vos", "inference", "memory.py"))
        self.memory = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.memory)

    def build(self, cfg: Config) -> nn.Module:
        """SINE's encoder and decoder in configuration cfg, as SINE's build_model builds
        them (DINOv2 with LayerScale, MLP FFN, biases everywhere; M-Former pre-norm)."""
        vit = self.vits.DinoVisionTransformer(
            img_size=cfg.pos_table_size, patch_size=cfg.patch_size, embed_dim=cfg.vit_dim, depth=cfg.vit_depth,
            num_heads=cfg.vit_heads, mlp_ratio=4, init_values=cfg.layer_scale_init, ffn_layer="mlp", block_chunks=0,
            qkv_bias=True, proj_bias=True, ffn_bias=True,
            block_fn=functools.partial(self.block, attn_class=self.attention))
        model = nn.Module()
        model.image_encoder = self.encoder_class(vit, out_chans=cfg.channels)
        model.transformer_decoder = self.decoder_class(
            depth=cfg.depth, embedding_dim=cfg.channels, num_heads=cfg.heads, mlp_dim=cfg.mlp_dim,
            mask_dim=cfg.channels, fusion_layer_depth=cfg.fusion_depth, num_queries=cfg.num_queries, pre_norm=True)
        return model.eval()

    def network(self, cfg: Config, state_dict: dict) -> "Network":
        """The authors' modules in configuration cfg with these weights, loaded with strict=True."""
        model = self.build(cfg)
        model.load_state_dict(state_dict, strict=True)
        return Network(model, cfg.input_size)

    def memory_class(self):
        """A factory of SINE's own per-object memory (linear decay, as its VOS evaluation
        runs it), with the interface of reference.ObjectMemory."""
        return functools.partial(Memory, self.memory)


class Network:
    """The authors' modules behind the interface of reference.Network."""

    def __init__(self, model: nn.Module, size: int):
        self.model, self.size = model, size

    def encode(self, images):
        encoder = self.model.image_encoder
        return encoder.neck(encoder.get_enc_embs(images))

    def decode(self, ref_features, ref_masks, labels, target):
        out = self.model.transformer_decoder(ref_features=ref_features, tar_features=target, ref_masks=ref_masks,
                                             ref_labels=torch.tensor(labels))[0]
        return ([int(i) for i in out["ref_id_labels"].flatten()], out["pred_id_logits"], out["pred_id_masks"],
                out["pred_ins_logits"], out["pred_ins_masks"])


class Memory:
    """SINE's Memory and Frame holding reference.Entry objects."""

    def __init__(self, module, capacity, fix_first, decay_ratio):
        self._frame = module.Frame
        self._memory = module.Memory(memory_len=capacity, fix_first_frame=fix_first, memory_decay_ratio=decay_ratio,
                                     memory_decay_type="linear")

    def add(self, entry):
        self._memory.update_memory(self._frame(obj=entry, frame_id=entry.frame, score=entry.score))

    def entries(self):
        return [frame.obj for frame in self._memory.get_memory()]
