#!/usr/bin/python3
"""Proves that SineGrpc computes what SINE computes.

Exports a small random-weight SINE (tools/export/export.py --random small), runs the
PyTorch reference of SINE's official algorithms (sine_export/reference.py: the video
loop that re-encodes every memory image for every object at every frame, and the
in-context id / instance / semantic inference), and the service's Track and Segment
over gRPC on the same inputs, then compares:

  Track, per frame and object: id logits within 1e-3 of their scale, binary masks
  identical wherever the reference's mask logit is beyond 1e-2 from 0, scores within 1e-3.
  (An object's reply on the frame it is prompted is its prompt, as the API says; there
  only its logits are compared. Its prediction still goes into memory, as in SINE.)
  Where the masks may differ (logit within 1e-2 of 0), the reference's memory takes the
  service's pixel: rounding on another CPU can flip such a pixel, and the flip, stored in
  one memory and not the other, would move every later frame apart (seen at up to 3e-3
  of the logit scale on judo on an AMD EPYC). What is compared is the reference's own.
  A frame whose longer side is not the model's input size is resized by both sides;
  see docs/export.md for how the service's resize compares with SINE's.
  Segment: the same for the id output; instances (label, score, mask) and semantic
  masks (wherever the reference's semantic value is beyond 1e-3 from the threshold).
  Track resumed: the clip again, on a stream broken halfway and resumed from its last
  reply's state (TrackStart.resume_state); every answer identical to the unbroken stream's.

The reference runs this project's PyTorch modules and its re-statement of SINE's
memory; with --sine-repo and --dinov2-repo it runs the authors' own modules and memory
class from those checkouts instead (sine_export/original.py), loaded with the same
random weights (strict=True), so the service is checked against SINE's code itself.

Exit status 0 when everything is within tolerance. Usage:
    /usr/bin/python3 tools/export/fidelity.py [--clip synthetic|judo] [--size WxH] [--keep DIR]
        [--sine-repo DIR --dinov2-repo DIR]
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

from sine_export import model as sine_model  # noqa: E402
from sine_export import service  # noqa: E402
import export  # noqa: E402
from sine_export.original import Original  # noqa: E402
from sine_export.reference import Network, ObjectMemory, ReferenceVideo, reference_segment  # noqa: E402

LOGIT_TOL = 1e-3
SCORE_TOL = 1e-3
MASK_MARGIN = 1e-2
SEMANTIC_MARGIN = 1e-3


def export_small(folder, seed=0, config="small"):
    """Exports a random-weight model into folder with tools/export/export.py, the command users
    run, its weights saved beside folder as SINE's own code loads them (--save-weights); returns
    the model rebuilt from those saved weights (strict=True), so that the reference runs
    exactly what the bundle holds."""
    cfg = sine_model.RANDOM_CONFIGS[config]
    weights = os.path.join(os.path.dirname(os.path.abspath(folder)), "weights")
    export.main(["--random", config, "--seed", str(seed), "--output", os.path.join(folder, cfg.name), "--save-weights", weights])
    model = sine_model.Sine(cfg)
    model.load_state_dict(torch.load(os.path.join(weights, "sine_weights.pth")), strict=True)
    return model.eval()


def load_clip(kind, size, frames):
    if kind == "judo":
        video, prompts = service.judo_clip(frames)
    else:
        video, prompts = service.synthetic_clip(frames=frames)
    if size:
        w, h = size
        video = np.stack([resize_rgb(f, w, h) for f in video])
        prompts = {t: {i: resize_mask(m, w, h) for i, m in p.items()} for t, p in prompts.items()}
    return video, prompts


def resize_rgb(rgb, w, h):
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


def resize_mask(m, w, h):
    x = torch.from_numpy(m.astype(np.float32))[None, None]
    return torch.nn.functional.interpolate(x, size=(h, w), mode="nearest")[0, 0].numpy() > 0.5


class Report:
    def __init__(self):
        self.worst = {}
        self.failures = []

    def value(self, name, err, tol, where):
        if err > self.worst.get(name, (-1, ""))[0]:
            self.worst[name] = (err, where)
        if not err <= tol:
            self.failures.append(f"{where}: {name} {err:.3g} > {tol:g}")

    def print(self, title):
        print(title)
        for name, (err, where) in sorted(self.worst.items()):
            print(f"  max {name:<34} {err:.3g}   ({where})")


def compare_mask(report, name, ref_logits, ref_binary, got, where, margin=MASK_MARGIN):
    confident = np.abs(ref_logits) > margin
    differ = (ref_binary != got) & confident
    report.value(name + " (confident pixels differing)", float(differ.sum()), 0, where)
    report.value(name + " (any pixel differing, share)", float((ref_binary != got).mean()), 1.0, where)


def run_track(stub, pb, model_name, video, prompts, frames=None, return_state=False, resume_state=b""):
    """The service's Track over frames (default: all), from a fresh stream or from resume_state.
    Returns {object id: (id logits, mask, score)} per frame, and the last reply's state (empty
    unless return_state)."""
    frames = range(len(video)) if frames is None else frames
    start = pb.TrackStart(model=model_name, output=pb.OutputOptions(include_logits=True),
                          return_state=return_state, resume_state=resume_state)

    def requests():
        yield pb.TrackRequest(start=start)
        for t in frames:
            frame = pb.TrackFrame(frame_index=t, image=service.raw_image(pb, video[t]))
            for oid, mask in prompts.get(t, {}).items():
                frame.prompts.append(service.prompt(pb, oid, mask))
            yield pb.TrackRequest(frame=frame)

    replies, state = [], b""
    for reply in stub.Track(requests()):
        if reply.HasField("error"):
            raise SystemExit(f"frame {reply.frame_index}: {reply.error.status}: {reply.error.message}")
        objs = {}
        for o in reply.objects:
            objs[o.object_id] = (np.array(o.id_logits, np.float32),
                                 service.rle_decode(o.mask.rle.counts, o.mask.rle.height, o.mask.rle.width), o.score)
        replies.append(objs)
        state = reply.state
    return replies, state


def check_resumed(stub, pb, name, video, prompts, unbroken, report):
    """A stream broken halfway and resumed from its last reply's state (TrackStart.resume_state)
    must answer the rest as the unbroken stream did, bit for bit: the state is its memory."""
    at = len(video) // 2
    before, state = run_track(stub, pb, name, video, prompts, range(at), return_state=True)
    after, _ = run_track(stub, pb, name, video, prompts, range(at, len(video)), resume_state=state)
    for t, (got, want) in enumerate(zip(before + after, unbroken)):
        same = sorted(got) == sorted(want) and all(
            np.array_equal(got[o][0], want[o][0]) and np.array_equal(got[o][1], want[o][1]) and got[o][2] == want[o][2]
            for o in want)
        report.value("Track resumed: frames unlike the unbroken stream", float(not same), 0, f"Track resumed at frame {at}, frame {t}")
    return at, len(state)


def reference_side(model, sine_repo, dinov2_repo):
    """(network, memory factory, what they are) for the reference loop: this project's
    modules and memory, or the authors' from their checkouts, on model's weights."""
    if not sine_repo:
        return Network(model), ObjectMemory, "this project's PyTorch modules and re-statement of SINE's memory"
    original = Original(sine_repo, dinov2_repo)
    return (original.network(model.cfg, model.state_dict()), original.memory_class(),
            f"the authors' modules and memory class from {sine_repo} and {dinov2_repo} (same weights, strict=True)")


def check_track(network, memory, stub, pb, name, video, prompts, report):
    torch.set_grad_enabled(False)
    started = time.time()
    replies, _ = run_track(stub, pb, name, video, prompts)
    service_time = time.time() - started
    started = time.time()
    reference = ReferenceVideo(network, memory=memory)
    ref_frames, passes = [], []
    for t, rgb in enumerate(video):
        # The service's masks for the undecided pixels (none for an object's prompt frame:
        # its reply is the prompt, not what the service remembered).
        follow = {oid: got[1] for oid, got in replies[t].items() if oid not in prompts.get(t, {})} if t < len(replies) else {}
        out, n = reference.step(rgb, prompts.get(t, {}), undecided=(MASK_MARGIN, follow))
        ref_frames.append(out)
        passes.append(n)
    ref_time = time.time() - started

    scale = max(1.0, max(float(o[0].abs().max()) for f in ref_frames for o in f.values()))
    for t, (ref, got) in enumerate(zip(ref_frames, replies)):
        if sorted(ref) != sorted(got):
            report.failures.append(f"frame {t}: objects {sorted(got)} != reference {sorted(ref)}")
            continue
        for oid, (logits, mask_logits, binary, score) in ref.items():
            g_logits, g_mask, g_score = got[oid]
            where = f"Track frame {t} object {oid}"
            report.value("Track id logit error / scale", float(np.abs(logits.numpy() - g_logits).max()) / scale, LOGIT_TOL, where)
            if oid in prompts.get(t, {}):
                continue   # the reply is the prompt itself
            compare_mask(report, "Track mask", mask_logits.numpy(), binary.numpy(), g_mask, where)
            report.value("Track score error", abs(score - g_score), SCORE_TOL, where)
    return passes, ref_time, service_time, ref_frames, replies


def check_segment(network, stub, pb, name, video, prompts, ref_frames, report):
    # References: the first frame with its prompts, and a later frame (the next one with
    # prompts, else frame 5) with those prompts and a second shot of the first object
    # (the reference loop's prediction there); target: the last frame.
    torch.set_grad_enabled(False)
    refs = [(video[0], dict(prompts[0]))]
    first = min(prompts[0])
    later = min([t for t in prompts if t > 0] or [min(5, len(video) - 2)])
    out = ref_frames[later]
    second = dict(prompts.get(later, {}))
    if out[first][2].any():
        second[first] = out[first][2].numpy()
    refs.append((video[later], second))
    target = video[-1]
    ids, instances, semantic = reference_segment(network, refs, target, instance_threshold=0.0)

    request = pb.SegmentRequest(model=name, target=service.raw_image(pb, target), max_instances=100,
                                output=pb.OutputOptions(include_logits=True))
    request.instance_score_threshold.value = 0.0
    for rgb, masks in refs:
        r = request.references.add(image=service.raw_image(pb, rgb))
        for oid, m in masks.items():
            r.prompts.append(service.prompt(pb, oid, m))
    reply = stub.Segment(request)
    dec = lambda m: service.rle_decode(m.rle.counts, m.rle.height, m.rle.width)  # noqa: E731

    scale = max(1.0, max(float(v[0].abs().max()) for v in ids.values()))
    got = {o.object_id: o for o in reply.objects}
    if sorted(got) != sorted(ids):
        report.failures.append(f"Segment objects {sorted(got)} != reference {sorted(ids)}")
    for oid, (logits, mask_logits, binary, score) in ids.items():
        if oid not in got:
            continue
        where = f"Segment object {oid}"
        report.value("Segment id logit error / scale", float(np.abs(logits.numpy() - np.array(got[oid].id_logits)).max()) / scale, LOGIT_TOL, where)
        compare_mask(report, "Segment mask", mask_logits.numpy(), binary.numpy(), dec(got[oid].mask), where)
        report.value("Segment score error", abs(score - got[oid].score), SCORE_TOL, where)

    # Instances: the same list, best first (pairs whose scores are within the tolerance may swap).
    service_instances = [(i.label, i.score, dec(i.mask)) for i in reply.instances]
    report.value("Segment instance count difference", abs(len(service_instances) - len(instances)), 0, "Segment instances")
    unmatched = list(service_instances)
    for k, (label, score, binary, logits) in enumerate(instances):
        best = min((u for u in unmatched if u[0] == label), key=lambda u: abs(u[1] - score), default=None)
        where = f"Segment instance {k} (label {label}, score {score:.4f})"
        if best is None:
            report.failures.append(f"{where}: missing from the service's reply")
            continue
        unmatched.remove(best)
        report.value("Segment instance score error", abs(best[1] - score), SCORE_TOL, where)
        compare_mask(report, "Segment instance mask", logits.numpy(), binary.numpy(), best[2], where)
    got_sem = {s.object_id: dec(s.mask) for s in reply.semantic}
    for oid, (values, binary) in semantic.items():
        where = f"Segment semantic {oid}"
        if oid not in got_sem:
            report.failures.append(f"{where}: missing")
            continue
        compare_mask(report, "Segment semantic mask", values.numpy() - 0.7, binary.numpy(), got_sem[oid], where, SEMANTIC_MARGIN)
    return len(instances), {oid: int(b.sum()) for oid, (_, b) in semantic.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", choices=["synthetic", "judo"], default="synthetic",
                   help="synthetic (default: 3 objects, one joining on frame 4) or cutie-examples/judo from "
                        "../shared/data (real 854x480 footage, 4 objects joining on frames 0, 5, 8, 13)")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--size", help="resize the clip to WxH first, with PyTorch, to 8-bit (default: as it comes; "
                   "the synthetic clip is 224x168, the small model's own input size)")
    p.add_argument("--config", default="small", choices=sorted(sine_model.RANDOM_CONFIGS))
    p.add_argument("--keep", help="keep the exported bundle, the server log and the random weights (weights/, "
                   "as SINE's code loads them) in this folder")
    p.add_argument("--no-build", action="store_true", help="use the server as already built")
    p.add_argument("--sine-repo", help="a checkout of github.com/aim-uofa/SINE: the reference runs its modules and memory")
    p.add_argument("--dinov2-repo", help="a checkout of github.com/facebookresearch/dinov2 (with --sine-repo)")
    args = p.parse_args(argv)
    if bool(args.sine_repo) != bool(args.dinov2_repo):
        p.error("--sine-repo and --dinov2-repo go together")
    torch.set_num_threads(os.cpu_count() or 1)
    size = tuple(int(v) for v in args.size.split("x")) if args.size else None

    work = args.keep or tempfile.mkdtemp(prefix="sine-fidelity-")
    os.makedirs(work, exist_ok=True)
    models = os.path.join(work, "models")
    shutil.rmtree(models, ignore_errors=True)
    started = time.time()
    model = export_small(models, config=args.config)
    print(f"exported {model.cfg.name} (random weights) to {models} in {time.time() - started:.1f} s")
    network, memory, reference = reference_side(model, args.sine_repo, args.dinov2_repo)
    print(f"reference: {reference}")
    video, prompts = load_clip(args.clip, size, args.frames)
    print(f"clip: {args.clip}, {len(video)} frames of {video.shape[2]}x{video.shape[1]}, prompts on frames "
          + ", ".join(f"{t} (objects {sorted(p)})" for t, p in sorted(prompts.items())))

    pb, rpc = service.load_stubs()
    import grpc
    report = Report()
    try:
        with service.Server(models, os.path.join(work, "server.log"), build=not args.no_build) as server:
            stub = rpc.SegmentationStub(grpc.insecure_channel(f"127.0.0.1:{server.port}",
                                                              options=[("grpc.max_receive_message_length", 64 << 20)]))
            server.wait_ready(stub, pb)
            passes, ref_time, service_time, ref_frames, replies = check_track(network, memory, stub, pb, model.cfg.name, video, prompts, report)
            resumed_at, state_bytes = check_resumed(stub, pb, model.cfg.name, video, prompts, replies, report)
            n_inst, sem = check_segment(network, stub, pb, model.cfg.name, video, prompts, ref_frames, report)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report.print(f"fidelity ({args.clip} clip; Segment: {n_inst} instances, semantic areas {sem}):")
    print(f"reference encoder passes per frame: {passes}; service: 1 per frame")
    print(f"Track resumed from the state after frame {resumed_at - 1} ({state_bytes} bytes) answered the rest as the unbroken stream")
    if report.failures:
        print(f"FAILED: {len(report.failures)} comparisons out of tolerance:")
        for f in report.failures[:30]:
            print("  " + f)
        return 1
    print(f"OK: the service matches the reference ({reference}; total {time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
