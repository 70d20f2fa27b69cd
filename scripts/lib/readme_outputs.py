"""Reads back what the README's usage sections wrote (scripts/check-readme) and fails unless
each output is what the README promises.

    readme_outputs.py REPO OUT_DIR

REPO is the copy of the repository the commands ran in (with ../shared beside it). OUT_DIR
holds cli.sh (the README's CLI block), one file per gRPC call and an `index` of "file method"
lines. Masks are scored against the ground truth: the DAVIS annotation of a frame, found
by its path for the CLI and by its bytes for the JSON requests, or the CLI's own prompts.
"""
import base64
import glob
import hashlib
import json
import os
import shlex
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
from coco_rle import rle_decode  # noqa: E402

MODEL = "resnet18-lp"
METHODS = ["sine.v1.Segmentation/Track", "sine.v1.Segmentation/Segment", "sine.v1.Segmentation/ListModels",
           "sine.v1.Segmentation/GetModelInfo", "grpc.health.v1.Health/Check",
           "grpc.reflection.v1.ServerReflection/ServerReflectionInfo"]
# The README's examples use easy frames: the service measures 0.9 and more on them.
MIN_IOU = 0.7
MIN_PROMPT_IOU = 0.9  # a prompted frame's answer is its prompt (a padded or cropped pixel aside)


def fail(message):
    sys.exit(f"check-readme: FAIL: {message}")


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def read_png(path):
    """A PNG's pixel values (palette indices for a palette PNG)."""
    return np.array(Image.open(path))


def object_ids(png):
    """A mask PNG as object ids, as the CLI reads it: a 0/255 mask is object 1, else pixel
    values are ids (255 is DAVIS's void, background here)."""
    ids = read_png(png).astype(np.int32)
    if set(np.unique(ids).tolist()) <= {0, 255}:
        return (ids != 0).astype(np.int32)
    ids[ids == 255] = 0
    return ids


def annotation(jpg):
    """The DAVIS ground truth of a frame, as object ids; None where it has none."""
    png = jpg.replace("/JPEGImages/", "/Annotations/")[:-4] + ".png"
    return object_ids(png) if os.path.exists(png) else None


def common(a, b):
    """Both arrays cropped to the size they share (a prompt may be a pixel off its frame)."""
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return a[:h, :w], b[:h, :w]


# --- the CLI block ---------------------------------------------------------------------

def cli_commands(block, command):
    """The `sine <command>` lines of a shell block, as lists of (option, value) pairs in order
    (value None for a flag; an option may come more than once)."""
    joined = block.replace("\\\n", " ")
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] != ["sine", command]:
            continue
        options, at = [], 2
        while at < len(words):
            name = words[at][2:]
            if at + 1 < len(words) and not words[at + 1].startswith("--"):
                options.append((name, words[at + 1]))
                at += 2
            else:
                options.append((name, None))
                at += 1
        yield options


def track_commands(block):
    """The `sine track` commands of a shell block, as {option: value} dictionaries."""
    for options in cli_commands(block, "track"):
        yield dict(options)


def check_track(repo, options):
    frames = sorted(glob.glob(os.path.join(repo, options["input"], "*.jpg")))
    output = os.path.join(repo, options["output"])
    if not frames:
        fail(f"the README tracks {options['input']}, which holds no JPEG frames")
    answers = []
    for jpg in frames:
        png = os.path.join(output, os.path.basename(jpg)[:-4] + ".png")
        if not os.path.exists(png):
            fail(f"sine track wrote no {png} for {jpg}")
        answers.append(read_png(png).astype(np.int32))
    name = options["input"]
    print(f"  sine track {name}: {len(answers)} index PNGs, one per frame")

    if "mask" in options:
        check_prompt(f"{name} frame 0", answers[0], object_ids(os.path.join(repo, options["mask"])))
    if "prompts" in options:
        for prompt in sorted(glob.glob(os.path.join(repo, options["prompts"], "*.png"))):
            index = [os.path.basename(f)[:-4] for f in frames].index(os.path.basename(prompt)[:-4])
            ids = object_ids(prompt)
            check_prompt(f"{name} frame {index}", answers[index], ids)
            if index + 1 < len(answers):
                missing = [k for k in np.unique(ids) if k != 0 and not (answers[index + 1] == k).any()]
                if missing:
                    fail(f"{name}: objects {missing}, prompted on frame {index}, are gone on the next frame")

    # DAVIS J over every frame but the first and the last, where there is ground truth.
    scores = []
    for jpg, answer in zip(frames[1:-1], answers[1:-1]):
        truth = annotation(jpg)
        if truth is not None:
            scores.extend(iou(answer == k, truth == k) for k in np.unique(truth) if k != 0)
    if scores:
        mean = float(np.mean(scores))
        print(f"  sine track {name}: J {mean:.3f} against the ground truth ({len(scores)} masks)")
        if mean < MIN_IOU:
            fail(f"sine track {name}: J {mean:.3f} is below {MIN_IOU}")

    if options.get("overlay"):
        video = os.path.join(repo, options["overlay"])
        if not os.path.exists(video) or os.path.getsize(video) < 10_000:
            fail(f"sine track wrote no overlay video at {video} (or an empty one)")
        with open(video, "rb") as f:
            if f.read(12)[4:8] != b"ftyp":
                fail(f"{video} is not an MP4 file")
        print(f"  sine track {name}: overlay {options['overlay']}, {os.path.getsize(video)} bytes")


def check_segment(repo, options):
    """sine segment: objects.png and semantic.png match the target's ground truth, object by
    object (the references' masks give the ids, as the target's annotation does); every
    instance file holds one of those ids."""
    single = dict(options)
    target = single["target"]
    truth = annotation(os.path.join(repo, target))
    if truth is None:
        fail(f"the README segments {target}, which has no DAVIS annotation to score against")
    output = os.path.join(repo, single["output"])
    references = [value for name, value in options if name == "reference"]
    for name in ["objects.png", "semantic.png"]:
        path = os.path.join(output, name)
        if not os.path.exists(path):
            fail(f"sine segment wrote no {path}")
        answer = read_png(path).astype(np.int32)
        if answer.shape != truth.shape:
            fail(f"sine segment's {name} is {answer.shape}, the target {truth.shape}")
        for k in np.unique(truth):
            if k != 0:
                check_scored(f"sine segment {target} ({len(references)} references), {name}, object {k}", iou(answer == k, truth == k))
    instances = sorted(glob.glob(os.path.join(output, "instance-*.png")))
    if not instances:
        fail(f"sine segment wrote no instance masks to {output}")
    for path in instances:
        labels = [k for k in np.unique(read_png(path)) if k != 0]
        if len(labels) != 1 or labels[0] not in np.unique(truth):
            fail(f"{path} holds labels {labels}, not one of the target's objects")
    print(f"  sine segment {target}: {len(instances)} instance masks")


def check_prompt(what, answer, prompt):
    answer, prompt = common(answer, prompt)
    scores = {int(k): iou(answer == k, prompt == k) for k in np.unique(prompt) if k != 0}
    print(f"  {what}, prompted: IoU with the prompt " + ", ".join(f"object {k} {v:.3f}" for k, v in scores.items()))
    for k, score in scores.items():
        if score < MIN_PROMPT_IOU:
            fail(f"{what}: object {k}'s mask is not its prompt (IoU {score:.3f})")


# --- the gRPC calls --------------------------------------------------------------------

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


class FramesByBytes:
    """The DAVIS frame an encoded image of a request is, found by its bytes."""

    def __init__(self, shared):
        self.paths = {}
        for jpg in glob.glob(f"{shared}/data/*/JPEGImages/480p/*/*.jpg"):
            with open(jpg, "rb") as f:
                self.paths[hashlib.sha256(f.read()).hexdigest()] = jpg

    def truth(self, encoded_b64):
        jpg = self.paths.get(hashlib.sha256(base64.b64decode(encoded_b64)).hexdigest())
        if jpg is None or annotation(jpg) is None:
            fail("a request carries an image that is not an annotated DAVIS frame")
        return annotation(jpg) == 1, "/".join(jpg.split("/")[-2:])


def object_iou(obj, truth):
    rle = obj["mask"]["rle"]
    mask = rle_decode(rle["counts"], rle["height"], rle["width"]).astype(bool)
    if mask.shape != truth.shape:
        fail(f"mask is {mask.shape}, the frame {truth.shape}")
    if int(obj.get("area", 0)) != int(mask.sum()):
        fail(f"area {obj.get('area')} is not the mask's {int(mask.sum())} pixels")
    return iou(mask, truth)


def object_one(reply, what):
    objects = [o for o in reply.get("objects", []) if o.get("objectId") == 1]
    if len(objects) != 1:
        fail(f"{what}: expected one object with id 1, got {reply.get('objects')!r:.200}")
    return objects[0]


def check_scored(what, score):
    print(f"  {what}: IoU {score:.3f} with the ground truth")
    if score < MIN_IOU:
        fail(f"{what}: IoU {score:.3f} is below {MIN_IOU}")


def check_call(method, path, requests, frames):
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
        check_scored(f"Segment, target {name}", object_iou(object_one(replies[0], "Segment"), truth))
    elif method == "sine.v1.Segmentation/Track":
        sent = [m["frame"] for m in map(json.loads, open(f"{requests}/track.json")) if "frame" in m]
        if len(replies) != len(sent):
            fail(f"Track: {len(sent)} frames sent, {len(replies)} replies")
        for frame, reply in zip(sent, replies):
            index = int(frame.get("frameIndex", 0))
            if int(reply.get("frameIndex", 0)) != index or "error" in reply:
                fail(f"Track: the reply to frame {index} is {reply!r:.300}")
            truth, name = frames.truth(frame["image"]["encoded"])
            check_scored(f"Track frame {index}, {name}", object_iou(object_one(reply, f"Track frame {index}"), truth))
    else:
        fail(f"no check for the README's call of {method}: add one to {__file__}")


def main():
    repo, out = sys.argv[1:3]
    commands = list(track_commands(open(f"{out}/cli.sh").read()))
    if not commands:
        fail("the README's CLI block has no sine track command")
    for options in commands:
        check_track(repo, options)
        print(f"check-readme: sine track --input {options['input']} wrote what the README says")
    segments = list(cli_commands(open(f"{out}/cli.sh").read(), "segment"))
    if not segments:
        fail("the README's CLI block has no sine segment command")
    for options in segments:
        check_segment(repo, options)
        print(f"check-readme: sine segment --target {dict(options)['target']} wrote what the README says")

    frames = FramesByBytes(os.path.join(repo, "..", "shared"))
    calls = [line.split() for line in open(f"{out}/index")]
    for file, method in calls:
        check_call(method, f"{out}/{file}", repo, frames)
        print(f"check-readme: {method} ({file}) answered as the README says")
    for needed in ["list", "grpc.health.v1.Health/Check", "sine.v1.Segmentation/Segment", "sine.v1.Segmentation/Track"]:
        if needed not in [method for _, method in calls]:
            fail(f"the README's grpcurl section no longer calls {needed}")


if __name__ == "__main__":
    main()
