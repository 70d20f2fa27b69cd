#!/usr/bin/python3
"""What token caching saves: SINE's reference video loop against SineGrpc, measured.

On one small random-weight SINE (tools/export/export.py --random small) and one clip,
runs three loops over the same frames and prompts:

  reference  SINE's evaluation loop in PyTorch: every memory image of every object is
             encoded again at every frame (1 + sum of memory sizes encoder passes);
  cached     the same algorithm in PyTorch on cached (masked sum, area) entries;
  service    SineGrpc's Track over gRPC on loopback (ONNX Runtime, CPU here).

Prints encoder passes per frame (the service's counted from its Prometheus metrics)
and wall times. Usage:
    /usr/bin/python3 tools/export/bench_cost.py [--clip synthetic|judo] [--frames N] [--size WxH]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import fidelity  # noqa: E402
from sine_export import service  # noqa: E402
from sine_export.reference import CachedVideo, Network, ReferenceVideo  # noqa: E402


def run_torch(loop, video, prompts):
    passes, outputs, started = [], [], time.time()
    for t, rgb in enumerate(video):
        out, n = loop.step(rgb, prompts.get(t, {}))
        passes.append(n)
        outputs.append(out)
    return passes, time.time() - started, outputs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", choices=["synthetic", "judo"], default="synthetic")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--size", help="resize the clip to WxH first")
    p.add_argument("--config", default="small")
    p.add_argument("--no-build", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    torch.set_grad_enabled(False)
    size = tuple(int(v) for v in args.size.split("x")) if args.size else None

    work = tempfile.mkdtemp(prefix="sine-bench-")
    try:
        models = os.path.join(work, "models")
        model = fidelity.export_small(models, config=args.config)
        video, prompts = fidelity.load_clip(args.clip, size, args.frames)
        print(f"model: {model.cfg.name} (ViT {model.cfg.vit_dim}x{model.cfg.vit_depth} blocks, {model.cfg.input_size} input, "
              f"decoder {model.cfg.depth} layers, {model.cfg.num_queries} queries); clip: {args.clip}, "
              f"{len(video)} frames of {video.shape[2]}x{video.shape[1]}, objects joining on frames {sorted(prompts)}; "
              f"{os.cpu_count()} CPU cores")

        ref_passes, ref_time, ref_out = run_torch(ReferenceVideo(Network(model)), video, prompts)
        cached_passes, cached_time, cached_out = run_torch(CachedVideo(Network(model)), video, prompts)
        drift = max(float((ref_out[t][o][0] - cached_out[t][o][0]).abs().max()) for t in range(len(video)) for o in ref_out[t])

        pb, rpc = service.load_stubs()
        import grpc
        with service.Server(models, os.path.join(work, "server.log"), build=not args.no_build) as server:
            stub = rpc.SegmentationStub(grpc.insecure_channel(f"127.0.0.1:{server.port}",
                                                              options=[("grpc.max_receive_message_length", 64 << 20)]))
            server.wait_ready(stub, pb)
            fidelity.run_track(stub, pb, model.cfg.name, video[:2], {0: prompts[0]})    # warm the stream path
            runs_before = server.encoder_runs()
            started = time.time()
            fidelity.run_track(stub, pb, model.cfg.name, video, prompts)
            service_time = time.time() - started
            service_runs = server.encoder_runs() - runs_before
    finally:
        shutil.rmtree(work, ignore_errors=True)

    n = len(video)
    print(f"(cached loop = reference loop up to {drift:.1g} in id logits)")
    print()
    print("| loop | encoder passes per frame | total passes | wall time | per frame |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| reference (PyTorch, re-encodes memory) | {min(ref_passes)} to {max(ref_passes)}, mean {np.mean(ref_passes):.1f} "
          f"| {sum(ref_passes)} | {ref_time:.1f} s | {1000 * ref_time / n:.0f} ms |")
    print(f"| cached (PyTorch, token memory) | {min(cached_passes)} to {max(cached_passes)} | {sum(cached_passes)} "
          f"| {cached_time:.1f} s | {1000 * cached_time / n:.0f} ms |")
    print(f"| SineGrpc Track (ONNX Runtime, gRPC) | {service_runs / n:.2f} (Prometheus count) | {service_runs} "
          f"| {service_time:.1f} s | {1000 * service_time / n:.0f} ms |")
    print()
    print(f"encoder passes, reference / service: {sum(ref_passes) / max(1, service_runs):.1f}x "
          f"(last frame: {ref_passes[-1]} vs 1)")
    print(f"wall time, reference / cached (both PyTorch): {ref_time / cached_time:.1f}x")
    print(f"wall time, reference / service: {ref_time / service_time:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
