#!/usr/bin/python3
"""Exports SINE into a SineGrpc model bundle (encoder.onnx, pool.onnx, decoder.onnx, model.json).

The official model (academic use only: you download the weights yourself):
    /usr/bin/python3 tools/export/export.py \\
        --sine-weights pytorch_model.bin --dinov2-weights dinov2_vitl14_pretrain.pth \\
        --output models/sine-vitl14 [--fp16]

A small model with random weights, for tests and benchmarks (nothing to download):
    /usr/bin/python3 tools/export/export.py --random small --output /tmp/models/sine-small-random

Needs PyTorch >= 1.13 and onnx (Debian: apt-get install python3-torch python3-onnx).
See docs/export.md.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from sine_export import model as sine_model  # noqa: E402
from sine_export.graphs import export_bundle  # noqa: E402

SINE_LICENSE = ("SINE code and weights (github.com/aim-uofa/SINE): 2-clause BSD for academic use only; "
                "commercial use needs the authors' permission. DINOv2 weights: Apache-2.0.")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--sine-weights", help="SINE checkpoint (pytorch_model.bin from the SINE README)")
    src.add_argument("--random", choices=sorted(sine_model.RANDOM_CONFIGS),
                     help="a small configuration with random weights (for tests)")
    p.add_argument("--dinov2-weights", help="DINOv2 ViT-L/14 checkpoint (dinov2_vitl14_pretrain.pth); "
                   "needed when the SINE checkpoint carries no encoder weights")
    p.add_argument("--output", required=True, help="bundle folder to write (created)")
    p.add_argument("--name", help="model name in model.json (default: sine-vitl14 / sine-<config>-random)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (--random)")
    p.add_argument("--input-size", type=int, help="override the input size (multiple of 14; default 1036 "
                   "for SINE, the configuration's for --random)")
    p.add_argument("--fp16", action="store_true", help="also write a float16 variant (float16 weights and compute, float32 inputs and "
                   "outputs) as its own bundle in <output>-fp16/, named <name>-fp16")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="PyTorch CPU threads")
    p.add_argument("--save-weights", metavar="FOLDER",
                   help="with --random: also write the random weights as SINE's code reads them, "
                        "sine_weights.pth (the whole model's state dict, for --sine-weights of SINE's tools/eval_vos.py) "
                        "and dinov2_weights.pth (the ViT's, for its --dinov2-weights)")
    args = p.parse_args(argv)
    if args.save_weights and not args.random:
        p.error("--save-weights goes with --random: the weights of a checkpoint are already yours")
    torch.set_num_threads(max(1, args.threads))

    started = time.time()
    if args.random:
        cfg = sine_model.RANDOM_CONFIGS[args.random]
    else:
        cfg = sine_model.SINE_VITL
    if args.input_size:
        if args.input_size % cfg.patch_size:
            p.error(f"--input-size must be a multiple of {cfg.patch_size}")
        cfg = sine_model.dataclasses.replace(cfg, input_size=args.input_size)
    if args.name:
        cfg = sine_model.dataclasses.replace(cfg, name=args.name)

    model = sine_model.Sine(cfg)
    if args.random:
        sine_model.randomize(model, args.seed)
        description = (f"SINE architecture, {args.random} configuration, RANDOM weights (seed {args.seed}): "
                       "for tests and benchmarks only; it segments nothing.")
        license_text = "Random weights; no licence restrictions."
    else:
        ignored = sine_model.load_official(model, args.sine_weights, args.dinov2_weights)
        if ignored:
            print(f"not part of the inference model, skipped: {', '.join(ignored)}")
        print("weights loaded with strict=True")
        description = ("SINE (Liu et al., NeurIPS 2024): DINOv2 ViT-L/14 encoder and M-Former decoder, "
                       f"{cfg.input_size}x{cfg.input_size} input, ID / instance / semantic outputs.")
        license_text = SINE_LICENSE
    model.eval()

    if args.save_weights:
        save_weights(model, args.save_weights)
    manifest = export_bundle(model, args.output, description, license_text)
    if args.fp16:
        from sine_export.fp16 import write_fp16_variant
        write_fp16_variant(args.output, manifest)
    print(f"wrote {args.output} ({', '.join(sorted(os.listdir(args.output)))}) in {time.time() - started:.0f} s; "
          "every ONNX file passed onnx.checker")


def save_weights(model, folder):
    """The model's weights in the two files SINE's own evaluation loads: its whole state dict
    (names as in SINE's pytorch_model.bin) and the ViT's alone (names as in DINOv2's checkpoint),
    so that the authors' code can run on exactly the weights of the exported bundle."""
    os.makedirs(folder, exist_ok=True)
    state = model.state_dict()
    vit = "image_encoder.encoder."
    torch.save(state, os.path.join(folder, "sine_weights.pth"))
    torch.save({k[len(vit):]: v for k, v in state.items() if k.startswith(vit)}, os.path.join(folder, "dinov2_weights.pth"))
    print(f"wrote {folder}/sine_weights.pth and {folder}/dinov2_weights.pth")


if __name__ == "__main__":
    main()
