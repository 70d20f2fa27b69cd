"""Reads back the replies of the README's grpcurl section (scripts/check-readme-calls) and
fails unless each is what the README promises.

    readme_replies.py OUT_DIR REQUEST_DIR DAVIS_ROOT

OUT_DIR holds one file per call and an `index` of "file method" lines; REQUEST_DIR holds the
segment.json and track.json the README's lines built. Masks are scored against the ground
truth of the frames the requests carry, found by their bytes under DAVIS_ROOT.
"""
import base64
import glob
import hashlib
import json
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
from coco_rle import rle_decode  # noqa: E402

MODEL = "resnet18-lp"
METHODS = ["sine.v1.Segmentation/Track", "sine.v1.Segmentation/Segment", "sine.v1.Segmentation/ListModels",
           "sine.v1.Segmentation/GetModelInfo", "grpc.health.v1.Health/Check",
           "grpc.reflection.v1.ServerReflection/ServerReflectionInfo"]
MIN_IOU = 0.7  # blackswan is easy: the service measures about 0.9 on these frames


def fail(message):
    sys.exit(f"check-readme-calls: FAIL: {message}")


def messages(path):
    """The JSON messages of one call's output, as buf curl prints them (one after another)."""
    text, decoder, out, at = open(path).read(), json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return out
        message, at = decoder.raw_decode(text, at)
        out.append(message)


class Frames:
    """Ground truth for an image the requests carry, found by its bytes among the DAVIS frames."""

    def __init__(self, root):
        self.by_hash = {}
        for jpg in glob.glob(f"{root}/JPEGImages/480p/*/*.jpg"):
            with open(jpg, "rb") as f:
                self.by_hash[hashlib.sha256(f.read()).hexdigest()] = jpg

    def truth(self, encoded_b64):
        jpg = self.by_hash.get(hashlib.sha256(base64.b64decode(encoded_b64)).hexdigest())
        if jpg is None:
            fail("a request carries an image that is not a frame of the DAVIS data")
        png = jpg.replace("/JPEGImages/", "/Annotations/")[:-4] + ".png"
        return np.array(Image.open(png)) != 0, os.path.relpath(jpg, os.path.dirname(os.path.dirname(jpg)))


def iou(obj, truth):
    rle = obj["mask"]["rle"]
    mask = rle_decode(rle["counts"], rle["height"], rle["width"]).astype(bool)
    if mask.shape != truth.shape:
        fail(f"mask is {mask.shape}, the frame {truth.shape}")
    if int(obj.get("area", 0)) != int(mask.sum()):
        fail(f"area {obj.get('area')} is not the mask's {int(mask.sum())} pixels")
    return (mask & truth).sum() / max((mask | truth).sum(), 1)


def object_one(reply, what):
    objects = [o for o in reply.get("objects", []) if o.get("objectId") == 1]
    if len(objects) != 1:
        fail(f"{what}: expected one object with id 1, got {reply.get('objects')!r:.200}")
    return objects[0]


def check_scored(what, score):
    print(f"  {what}: IoU {score:.3f} with the ground truth")
    if score < MIN_IOU:
        fail(f"{what}: IoU {score:.3f} is below {MIN_IOU}")


def check(method, path, requests, frames):
    if method == "list":
        listed = open(path).read().split()
        missing = [m for m in METHODS if m not in listed]
        if missing:
            fail(f"--list-methods does not list {missing}")
        return
    replies = messages(path)
    if method == "grpc.health.v1.Health/Check":
        if replies != [{"status": "SERVING"}]:
            fail(f"Health/Check answered {replies}")
    elif method == "sine.v1.Segmentation/ListModels":
        if replies[0].get("defaultModel") != MODEL or MODEL not in [m.get("name") for m in replies[0].get("models", [])]:
            fail(f"ListModels does not list {MODEL} as the default: {replies[0]!r:.300}")
    elif method == "sine.v1.Segmentation/GetModelInfo":
        if replies[0].get("name") != MODEL:
            fail(f"GetModelInfo answered {replies[0]!r:.300}")
    elif method == "sine.v1.Segmentation/Segment":
        truth, name = frames.truth(json.load(open(f"{requests}/segment.json"))["target"]["encoded"])
        check_scored(f"Segment, target {name}", iou(object_one(replies[0], "Segment"), truth))
    elif method == "sine.v1.Segmentation/Track":
        sent = [json.loads(line)["frame"] for line in open(f"{requests}/track.json") if "frame" in json.loads(line)]
        if len(replies) != len(sent):
            fail(f"Track: {len(sent)} frames sent, {len(replies)} replies")
        for frame, reply in zip(sent, replies):
            index = int(frame.get("frameIndex", 0))
            if int(reply.get("frameIndex", 0)) != index or "error" in reply:
                fail(f"Track: the reply to frame {index} is {reply!r:.300}")
            truth, name = frames.truth(frame["image"]["encoded"])
            check_scored(f"Track frame {index}, {name}", iou(object_one(reply, f"Track frame {index}"), truth))
    else:
        fail(f"no check for the README's call of {method}: add one to {__file__}")


def main():
    out, requests, root = sys.argv[1:4]
    frames = Frames(root)
    calls = [line.split() for line in open(f"{out}/index")]
    for file, method in calls:
        check(method, f"{out}/{file}", requests, frames)
        print(f"check-readme-calls: {method} ({file}) answered as the README says")
    for needed in ["list", "grpc.health.v1.Health/Check", "sine.v1.Segmentation/Segment", "sine.v1.Segmentation/Track"]:
        if needed not in [method for _, method in calls]:
            fail(f"the README's section no longer calls {needed}")


if __name__ == "__main__":
    main()
