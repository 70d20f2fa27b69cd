#!/usr/bin/python3
"""Checks this project's SINE modules against the original code, on the same weights.

Imports SINE's decoder (inference_vos/model/transformer_decoder/mformer.py) and image
encoder wrapper from YOUR checkout of github.com/aim-uofa/SINE, and DINOv2's vision
transformer from a checkout of github.com/facebookresearch/dinov2 (SINE's own copy lacks
dinov2/models), builds both models in a small configuration, loads the same random
weights into both with strict=True, and compares encoder features and all decoder
outputs (with a two-shot label, as SINE pools it). Nothing of either repository is
copied into this one; detectron2, which SINE's decoder imports only for its channel
LayerNorm, is stood in for by a few lines here.

    /usr/bin/python3 tools/export/check_modules.py --sine-repo ~/src/SINE --dinov2-repo ~/src/dinov2
"""
import argparse
import os
import sys
import types
import warnings

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sine_export.model import Config, Sine, randomize  # noqa: E402


def detectron2_stand_in():
    """detectron2.layers.get_norm("LN", C): a LayerNorm over channels (eps 1e-6)."""
    from sine_export.mformer import ChannelLayerNorm
    layers = types.ModuleType("detectron2.layers")
    layers.get_norm = lambda kind, channels: ChannelLayerNorm(channels)
    sys.modules["detectron2"] = types.ModuleType("detectron2")
    sys.modules["detectron2.layers"] = layers


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sine-repo", required=True)
    p.add_argument("--dinov2-repo", required=True)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_grad_enabled(False)
    detectron2_stand_in()
    sys.path.insert(0, os.path.abspath(args.dinov2_repo))
    sys.path.insert(0, os.path.join(os.path.abspath(args.sine_repo), "inference_vos", "model"))
    import dinov2.models.vision_transformer as vits
    from image_encoder.dinov2 import DINOv2EncoderViT
    from transformer_decoder.mformer import MFormer

    cfg = Config(name="check", vit_dim=384, vit_depth=2, vit_heads=6, channels=128, depth=2, heads=8,
                 mlp_dim=256, num_queries=20, input_size=224)
    ours = randomize(Sine(cfg), 1).eval()

    class Original(nn.Module):
        def __init__(self):
            super().__init__()
            vit = vits.vit_small(patch_size=14, img_size=518, init_values=1e-5, ffn_layer="mlp", block_chunks=0,
                                 qkv_bias=True, proj_bias=True, ffn_bias=True)
            vit.blocks = nn.ModuleList(list(vit.blocks)[:cfg.vit_depth])
            self.image_encoder = DINOv2EncoderViT(vit, out_chans=cfg.channels)
            self.transformer_decoder = MFormer(depth=cfg.depth, embedding_dim=cfg.channels, num_heads=cfg.heads,
                                               mlp_dim=cfg.mlp_dim, mask_dim=cfg.channels, fusion_layer_depth=1,
                                               num_queries=cfg.num_queries, pre_norm=True)

    original = Original().eval()
    original.load_state_dict(ours.state_dict(), strict=True)
    print(f"parameter names and shapes: identical ({len(ours.state_dict())} tensors, strict=True)")

    g = torch.Generator().manual_seed(3)
    images = torch.randn(3, 3, 224, 224, generator=g)
    theirs_f = original.image_encoder.neck(original.image_encoder.get_enc_embs(images))
    ours_f = ours.image_encoder(images)
    worst = [("encoder features", float((theirs_f - ours_f).abs().max()), float(theirs_f.abs().max()))]
    masks = (torch.rand(3, 1, 224, 224, generator=g) > 0.6).float()
    labels = [7, 5, 7]
    target = ours_f[:1]
    out = original.transformer_decoder(ref_features=ours_f, tar_features=target, ref_masks=masks,
                                       ref_labels=torch.tensor(labels))[0]
    dec = ours.transformer_decoder
    tokens, _ = dec.reference_tokens(ours_f, masks, labels, dec.mask_size(target))
    mine = dec(target, tokens)
    for name, key, value in zip(["id_logits", "id_masks", "ins_logits", "ins_masks"],
                                ["pred_id_logits", "pred_id_masks", "pred_ins_logits", "pred_ins_masks"], mine):
        worst.append((name, float((out[key] - value).abs().max()), float(out[key].abs().max())))
    ok = True
    for name, err, scale in worst:
        print(f"{name:<17} max abs difference {err:.3g} (values up to {scale:.3g})")
        ok &= err <= 1e-5 * max(1.0, scale)
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
