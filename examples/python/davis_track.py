"""Streams DAVIS sequences through SineGrpc's Track with the first frame's mask and
prints region J (mean IoU over every frame but the first and the last) per sequence:
DAVIS 2016 (one object, 0/255 masks) or 2017 (palette masks, several objects, each
scored on its own; the mean is over every object, as the davis2017-evaluation toolkit's).

A client in another language than the service, on Debian's packages only:
    sudo apt-get install python3-grpcio python3-grpc-tools python3-numpy python3-pil
    /usr/bin/python3 -m grpc_tools.protoc -Iprotos --python_out=examples/python \
        --grpc_python_out=examples/python protos/sine/v1/sine.proto
    /usr/bin/python3 examples/python/davis_track.py localhost:5000 ../shared/data/davis2016-dev

Options: --sequences a,b (default: all), --max-frames N (the first N frames of each),
--min-j J (exit 1 when the mean J, in percent, is below J). examples/python/check runs it
against a fresh service (CI does).
"""
import argparse, sys, glob, io, os, time
import numpy as np
from PIL import Image
import grpc
sys.path.insert(0, os.path.dirname(__file__))
from sine.v1 import sine_pb2 as pb, sine_pb2_grpc as rpc
from coco_rle import rle_decode

VOID = 255

def object_ids(png, binary):
    """A DAVIS annotation (its pixel values as read from the PNG) as object ids per pixel, as
    the davis2017-evaluation toolkit reads it: pixel values are ids and 255 is void
    (background here), except in a 0/255 mask (DAVIS 2016), where every non-zero pixel is
    object 1."""
    a = png.astype(np.int32)
    if binary:
        return (a != 0).astype(np.uint8)
    a[a == VOID] = 0
    return a.astype(np.uint8)

def png_bytes(ids):
    out = io.BytesIO(); Image.fromarray(ids).save(out, format="PNG"); return out.getvalue()

def run(seq_root, ann_root, seq, stub, max_frames):
    """Tracks one sequence from its first annotation; returns (J per object, frames/s)."""
    frames = sorted(glob.glob(f"{seq_root}/{seq}/*.jpg"))[:max_frames]
    anns = sorted(glob.glob(f"{ann_root}/{seq}/*.png"))
    first = np.array(Image.open(anns[0]))
    values = set(np.unique(first).tolist())
    binary = VOID in values and values <= {0, VOID}
    prompt = object_ids(first, binary)
    count = int(prompt.max())                  # objects 1..count, as the toolkit counts them
    if count == 0:
        sys.exit(f"{seq}: the first annotation has no object")
    def reqs():
        yield pb.TrackRequest(start=pb.TrackStart())
        for i, f in enumerate(frames):
            fr = pb.TrackFrame(frame_index=i, image=pb.Image(encoded=open(f, 'rb').read()))
            if i == 0:
                # object_id 0: an index mask, every pixel value an object id.
                fr.prompts.add(object_id=0, mask=pb.Mask(png=png_bytes(prompt)))
            yield pb.TrackRequest(frame=fr)
    t = time.time(); ious = [[] for _ in range(count)]
    for i, r in enumerate(stub.Track(reqs())):
        assert r.frame_index == i and not r.HasField("error"), r.error
        masks = {}
        for o in r.objects:
            pred = rle_decode(o.mask.rle.counts, o.mask.rle.height, o.mask.rle.width).astype(bool)
            assert int(o.area) == int(pred.sum())
            masks[o.object_id] = pred
        if 0 < i < len(frames) - 1:            # J leaves out the first and the last frame
            gt = object_ids(np.array(Image.open(anns[i])), binary)
            for k in range(1, count + 1):
                g = gt == k; p = masks[k] if k in masks else np.zeros_like(g)
                u = (g | p).sum(); ious[k - 1].append(1.0 if u == 0 else (g & p).sum() / u)
    dt = time.time() - t
    return [float(np.mean(j)) for j in ious], len(frames) / dt

def main():
    parser = argparse.ArgumentParser(description="Region J of DAVIS sequences tracked through SineGrpc")
    parser.add_argument("server", nargs="?", default="localhost:5000")
    parser.add_argument("data", nargs="?", default="../shared/data/davis2016-dev")
    parser.add_argument("--sequences", help="comma-separated sequence names (default: all)")
    parser.add_argument("--max-frames", type=int, default=None, help="the first N frames of each sequence")
    parser.add_argument("--min-j", type=float, default=None, help="exit 1 when the mean J (percent) is below this")
    args = parser.parse_args()
    stub = rpc.SegmentationStub(grpc.insecure_channel(args.server))
    root = args.data
    if not os.path.isdir(f"{root}/JPEGImages/480p"):
        sys.exit(f"needs a DAVIS-layout folder (JPEGImages/480p, Annotations/480p); {root} is not one")
    seqs = args.sequences.split(",") if args.sequences else sorted(os.listdir(f"{root}/JPEGImages/480p"))
    js = []                                    # per object, over every sequence (the toolkit's global mean)
    for seq in seqs:
        if not os.path.isdir(f"{root}/JPEGImages/480p/{seq}"):
            sys.exit(f"no sequence {seq} in {root}/JPEGImages/480p")
        j, fps = run(f"{root}/JPEGImages/480p", f"{root}/Annotations/480p", seq, stub, args.max_frames)
        js.extend(j)
        per_object = "" if len(j) == 1 else "  (" + ", ".join(f"object {k}: {v*100:.1f}" for k, v in enumerate(j, 1)) + ")"
        print(f"{seq:12s} J={np.mean(j)*100:5.1f}  {fps:4.1f} fps{per_object}", flush=True)
    mean = np.mean(js) * 100
    print(f"mean J = {mean:.1f} over {len(js)} object(s)")
    if args.min_j is not None and mean < args.min_j:
        sys.exit(f"mean J {mean:.1f} is below {args.min_j}")


if __name__ == "__main__":
    main()
