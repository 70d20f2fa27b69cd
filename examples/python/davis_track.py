"""Streams DAVIS sequences through SineGrpc's Track with the first frame's mask and
prints region J (mean IoU over every frame but the first and the last) per sequence.

A client in another language than the service, on Debian's packages only:
    sudo apt-get install python3-grpcio python3-grpc-tools python3-numpy python3-pil
    /usr/bin/python3 -m grpc_tools.protoc -Iprotos --python_out=examples/python \
        --grpc_python_out=examples/python protos/sine/v1/sine.proto
    /usr/bin/python3 examples/python/davis_track.py localhost:5000 ../shared/data/davis2016-dev

Options: --sequences a,b (default: all), --max-frames N (the first N frames of each),
--min-j J (exit 1 when the mean J, in percent, is below J). examples/python/check runs it
against a fresh service (CI does).
"""
import argparse, sys, glob, os, time
import numpy as np
from PIL import Image
import grpc
sys.path.insert(0, os.path.dirname(__file__))
from sine.v1 import sine_pb2 as pb, sine_pb2_grpc as rpc

def rle_decode(counts, h, w):
    """COCO compressed RLE -> HxW array (the algorithm of pycocotools' rleFrString)."""
    cnts = []; p = 0; m = 0
    s = counts.encode()
    while p < len(s):
        x = 0; k = 0; more = 1
        while more:
            c = s[p] - 48; x |= (c & 0x1f) << (5 * k); more = c & 0x20; p += 1; k += 1
            if not more and (c & 0x10): x |= -1 << (5 * k)
        if m > 2: x += cnts[m - 2]
        cnts.append(x); m += 1
    flat = np.zeros(h * w, np.uint8); pos = 0; v = 0
    for c in cnts:
        flat[pos:pos + c] = v; pos += c; v ^= 1
    assert pos == h * w
    return flat.reshape(w, h).T

def run(seq_root, ann_root, seq, stub, max_frames):
    frames = sorted(glob.glob(f"{seq_root}/{seq}/*.jpg"))[:max_frames]
    anns = sorted(glob.glob(f"{ann_root}/{seq}/*.png"))
    def reqs():
        yield pb.TrackRequest(start=pb.TrackStart())
        for i, f in enumerate(frames):
            fr = pb.TrackFrame(frame_index=i, image=pb.Image(encoded=open(f, 'rb').read()))
            if i == 0:
                fr.prompts.add(object_id=1, mask=pb.Mask(png=open(anns[0], 'rb').read()))
            yield pb.TrackRequest(frame=fr)
    t = time.time(); ious = []; enc = []
    for i, r in enumerate(stub.Track(reqs())):
        assert r.frame_index == i and not r.HasField("error"), r.error
        gt = np.array(Image.open(anns[i])) > 0
        o = r.objects[0]
        pred = rle_decode(o.mask.rle.counts, o.mask.rle.height, o.mask.rle.width).astype(bool)
        assert int(o.area) == int(pred.sum())
        enc.append(r.timings.encoder_ms)
        if 0 < i < len(frames) - 1:
            u = (gt | pred).sum(); ious.append(1.0 if u == 0 else (gt & pred).sum() / u)
    dt = time.time() - t
    return np.mean(ious), len(frames) / dt

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
    js = []
    for seq in seqs:
        if not os.path.isdir(f"{root}/JPEGImages/480p/{seq}"):
            sys.exit(f"no sequence {seq} in {root}/JPEGImages/480p")
        j, fps = run(f"{root}/JPEGImages/480p", f"{root}/Annotations/480p", seq, stub, args.max_frames)
        js.append(j); print(f"{seq:12s} J={j*100:5.1f}  {fps:4.1f} fps", flush=True)
    mean = np.mean(js) * 100
    print(f"mean J = {mean:.1f}")
    if args.min_j is not None and mean < args.min_j:
        sys.exit(f"mean J {mean:.1f} is below {args.min_j}")


if __name__ == "__main__":
    main()
