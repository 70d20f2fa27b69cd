#!/usr/bin/python3
"""Checks this project's SINE modules against the original code, on the same weights.

Imports SINE's decoder (inference_vos/model/transformer_decoder/mformer.py) and image
encoder wrapper from YOUR checkout of github.com/aim-uofa/SINE, and DINOv2's vision
transformer from a checkout of github.com/facebookresearch/dinov2 (SINE's own copy lacks
dinov2/models), builds both models in a small configuration, loads the same random
weights into both with strict=True, and compares encoder features and all decoder
outputs (with a two-shot label, as SINE pools it). Nothing of either repository is
copied into this one; what they import that a plain PyTorch machine lacks (detectron2's
channel LayerNorm; PyTorch 2's scaled_dot_product_attention on PyTorch 1.13) is stood in
for by sine_export/original.py, which imports them.

    /usr/bin/python3 tools/export/check_modules.py --sine-repo ~/src/SINE --dinov2-repo ~/src/dinov2
"""
import argparse
import os
import sys
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sine_export.model import Config, Sine, randomize  # noqa: E402
from sine_export.original import Original  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sine-repo", required=True)
    p.add_argument("--dinov2-repo", required=True)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_grad_enabled(False)

    cfg = Config(name="check", vit_dim=384, vit_depth=2, vit_heads=6, channels=128, depth=2, heads=8,
                 mlp_dim=256, num_queries=20, input_size=224)
    ours = randomize(Sine(cfg), 1).eval()
    original = Original(args.sine_repo, args.dinov2_repo).build(cfg)
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
