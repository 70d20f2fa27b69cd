"""SINE's reference inference, re-stated in PyTorch for checking the service against it.

Everything here follows the official evaluation code's algorithm (SINE's
tools/eval_vos.py, inference_vos/inference/memory.py, and the id / instance /
semantic inference of its VOS, few-shot-detection and few-shot-segmentation
models), written for this project:

- pre-processing: RGB in [0,1]; resized (bilinear, half-pixel, no antialias) so the
  longer side is the input size, the shorter one int(size / aspect); normalised;
  zero-padded bottom/right to a square. Masks: nearest resize to the same size, padded.
- the video loop re-encodes every memory image of every object at every frame and
  runs the decoder once on all objects' memories (SINE pools each object's shots);
- memory per object: the prompted frame fixed, a heap of (decayed score, score,
  frame) holding capacity-1 predictions, linear decay table;
- post-processing: mask logits upsampled bilinearly to the padded input, cropped to
  the resized image, resized bilinearly to the frame; mask = logit > 0; score =
  softmax(id logits)[0] x mean sigmoid inside the mask (+1e-6 in the denominator).

The frames are taken as given: the official DAVIS script also resizes every frame to
a shorter side of 518 first (its --size default) and upsamples its results back with
nearest; a client wanting exactly that sends such frames.
"""
import functools
import heapq

import numpy as np
import torch
import torch.nn.functional as F

MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None]


def resized_size(h, w, size):
    """(rh, rw): the longer side becomes size, the other int(size / aspect) (truncated)."""
    aspect = w / h
    if aspect > 1:
        return int(size / aspect), size
    return size, int(size * aspect)


def pad(x, size):
    h, w = x.shape[-2:]
    return F.pad(x, (0, size - w, 0, size - h))


def prepare_image(rgb: np.ndarray, size: int):
    """uint8 HxWx3 RGB -> normalised padded [3,S,S] float32, and the resized (rh, rw)."""
    x = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    rh, rw = resized_size(x.shape[1], x.shape[2], size)
    x = F.interpolate(x[None], size=(rh, rw), mode="bilinear")[0]
    x = (x - MEAN) / STD
    return pad(x, size), (rh, rw)


def prepare_mask(mask: np.ndarray, size: int):
    """HxW bool/0-1 -> [1,S,S] float32 (nearest resize, zero padding)."""
    m = torch.from_numpy(np.asarray(mask, dtype=np.float32))
    rh, rw = resized_size(m.shape[0], m.shape[1], size)
    m = F.interpolate(m[None, None], size=(rh, rw), mode="nearest")[0]
    return pad(m, size)


def to_frame(maps, size, resized, out_hw):
    """[K,mh,mw] maps over the padded input -> [K,H,W]: upsample, crop, resize."""
    x = F.interpolate(maps[None], size=(size, size), mode="bilinear", align_corners=False)
    x = x[:, :, :resized[0], :resized[1]]
    return F.interpolate(x, size=out_hw, mode="bilinear", align_corners=False)[0]


def mask_score(presence, logits):
    """presence [K], logits [K,H,W] -> (binary masks, scores) as SINE's id / instance inference."""
    binary = (logits > 0).float()
    mean_prob = (logits.sigmoid().flatten(1) * binary.flatten(1)).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
    return binary.bool(), presence * mean_prob


class Network:
    """This project's modules as the reference loops use them (sine_export.original.Network
    is the same interface over the authors' modules)."""

    def __init__(self, model):
        self.model, self.size = model, model.cfg.input_size

    def encode(self, images):
        return self.model.image_encoder(images)

    def decode(self, ref_features, ref_masks, labels, target):
        """SINE's decoder on reference shots (features, masks, one label each) and a target:
        (the labels in token order, id_logits, id_masks, ins_logits, ins_masks)."""
        dec = self.model.transformer_decoder
        tokens, ids = dec.reference_tokens(ref_features, ref_masks, labels, dec.mask_size(target))
        return (ids, *dec(target, tokens))


def encode_batches(network, images, batch=4):
    """The encoder over images, batch at a time (SINE's batch_iterator(4) for references)."""
    return torch.cat([network.encode(images[i:i + batch]) for i in range(0, len(images), batch)])


class Entry:
    """One memory frame of one object: what the reference stores (the frame's input
    image and the object's mask on it) and its scores."""

    def __init__(self, image, mask, frame, score):
        self.image, self.mask, self.frame = image, mask, frame
        self.score = score
        self.decayed = score

    def __lt__(self, other):
        return (self.decayed, self.score, self.frame) < (other.decayed, other.score, other.frame)


class ObjectMemory:
    """The reference memory of one object (fix_first_frame, linear decay)."""

    def __init__(self, capacity=6, fix_first=True, decay_ratio=20.0):
        self.slots = capacity - (1 if fix_first else 0)
        self.fix_first = fix_first
        self.first = None
        self.heap = []
        self.ratio = decay_ratio
        self.table = [max(0.0, 1 - x / decay_ratio) for x in range(int(decay_ratio))] if decay_ratio else None

    def decay(self, age):
        if not self.ratio:
            return 1
        return self.table[age] if age < len(self.table) else 0

    def add(self, entry):
        if self.fix_first and self.first is None:
            self.first = entry
            return
        heapq.heappush(self.heap, entry)
        for e in self.heap:
            e.decayed = self.decay(entry.frame - e.frame) * e.score
        heapq.heapify(self.heap)
        if len(self.heap) > self.slots:
            heapq.heappop(self.heap)

    def entries(self):
        return list(self.heap) + ([self.first] if self.first is not None else [])


class ReferenceVideo:
    """The official video loop, frame by frame; counts its encoder passes.

    network: Network (this project's modules) or sine_export.original.Network (the
    authors'); memory: a factory (capacity, fix_first, decay_ratio) -> per-object memory,
    ObjectMemory or sine_export.original.Memory."""

    def __init__(self, network, capacity=6, fix_first=True, decay_ratio=20.0, encoder_batch=4, memory=ObjectMemory):
        self.network = network
        self.size = network.size
        self.memory = {}                    # object id -> memory, in the order objects appeared
        self.new_memory = functools.partial(memory, capacity, fix_first, decay_ratio)
        self.encoder_batch = encoder_batch
        self.encoder_images = 0
        self.frame = 0

    def encode(self, images):
        self.encoder_images += len(images)
        return encode_batches(self.network, images, self.encoder_batch)

    @torch.no_grad()
    def step(self, rgb: np.ndarray, prompts: dict, undecided=None):
        """One frame: rgb uint8 HxWx3, prompts {object id: HxW mask} for objects starting here.
        Returns {id: (id_logits[2], mask logits HxW, binary HxW, score)} and the encoder passes used.

        undecided (optional): (margin, {object id: HxW 0/1 mask}). Where an object's logit is
        within margin of 0, the mask that goes into memory takes that pixel from the given
        mask instead of this loop's own decision (what is returned stays this loop's own).
        For comparing two implementations: a pixel whose logit is a rounding error away from
        0 may go either way, and without this one coin flip sends the two memories apart."""
        image, resized = prepare_image(rgb, self.size)
        h, w = rgb.shape[:2]
        t = self.frame
        for oid, mask in prompts.items():
            assert oid not in self.memory
            self.memory[oid] = self.new_memory()
            self.memory[oid].add(Entry(image, prepare_mask(mask, self.size), t, 1.0))
        before = self.encoder_images

        refs = [(oid, e) for oid, mem in self.memory.items() for e in mem.entries()]
        ref_features = self.encode(torch.stack([e.image for _, e in refs]))
        target = self.encode(image[None])
        ids, id_logits, id_masks, _, _ = self.network.decode(ref_features, torch.stack([e.mask for _, e in refs]),
                                                             [oid for oid, _ in refs], target)
        logits = to_frame(id_masks[0], self.size, resized, (h, w))
        presence = id_logits[0].softmax(-1)[:, 0]
        binary, scores = mask_score(presence, logits)

        result = {}
        for i, oid in enumerate(ids):
            result[oid] = (id_logits[0, i].clone(), logits[i], binary[i], float(scores[i]))
            remembered = binary[i].numpy()
            if undecided is not None and oid in undecided[1]:
                close = np.abs(logits[i].numpy()) <= undecided[0]
                remembered = np.where(close, np.asarray(undecided[1][oid]) != 0, remembered)
            self.memory[oid].add(Entry(image, prepare_mask(remembered, self.size), t, float(scores[i])))
        self.frame += 1
        return result, self.encoder_images - before


@torch.no_grad()
def reference_segment(network, references, target_rgb, top_k=100, instance_threshold=0.0, semantic_threshold=0.7):
    """In-context segmentation of one image the way SINE's inference computes its three outputs.

    references: list of (rgb, {label: mask}). Returns
      ids:       {label: (id_logits[2], mask logits HxW, binary HxW, score)}       (VOS id inference)
      instances: list of (label, score, binary HxW, mask logits HxW), best first (few-shot detection inference)
      semantic:  {label: (probability HxW, binary HxW)}                           (few-shot segmentation inference)
    """
    size = network.size
    images, masks, labels = [], [], []
    for rgb, prompts in references:
        image, _ = prepare_image(rgb, size)
        for label, mask in prompts.items():
            images.append(image)
            masks.append(prepare_mask(mask, size))
            labels.append(label)
    target, resized = prepare_image(target_rgb, size)
    h, w = target_rgb.shape[:2]
    ref_features = encode_batches(network, torch.stack(images))
    tar_features = network.encode(target[None])
    ids, id_logits, id_masks, ins_logits, ins_masks = network.decode(ref_features, torch.stack(masks), labels, tar_features)

    logits = to_frame(id_masks[0], size, resized, (h, w))
    binary, scores = mask_score(id_logits[0].softmax(-1)[:, 0], logits)
    out_ids = {oid: (id_logits[0, i], logits[i], binary[i], float(scores[i])) for i, oid in enumerate(ids)}

    # Instances: class probabilities without the negative class, the top k (query,
    # label) pairs, each scored by its probability x its mask's mean foreground
    # probability at the frame's size; those above the threshold, best first.
    probs = ins_logits[0].softmax(-1)[:, :-1]                      # Q, N
    n = probs.shape[1]
    flat = probs.flatten()
    top, index = flat.topk(min(top_k, flat.numel()))
    queries = (index // n).tolist()
    inst_logits = to_frame(ins_masks[0, queries], size, resized, (h, w))
    inst_binary, inst_scores = mask_score(top, inst_logits)
    instances = [(ids[int(index[k] % n)], float(inst_scores[k]), inst_binary[k], inst_logits[k])
                 for k in range(len(queries)) if float(inst_scores[k]) > instance_threshold]
    instances.sort(key=lambda i: -i[1])

    # Semantic: per label, the probability-weighted sum of the instance masks'
    # sigmoids at the padded input size, cropped and resized to the frame; > threshold.
    up = F.interpolate(ins_masks, size=(size, size), mode="bilinear", align_corners=False)[0].sigmoid()
    semseg = torch.einsum("qc,qhw->chw", probs, up)[None, :, :resized[0], :resized[1]]
    semseg = F.interpolate(semseg, size=(h, w), mode="bilinear", align_corners=False)[0]
    semantic = {oid: (semseg[i], semseg[i] > semantic_threshold) for i, oid in enumerate(ids)}
    return out_ids, instances, semantic


class CachedVideo(ReferenceVideo):
    """The same algorithm on cached (masked sum, area) entries, as SineGrpc runs it:
    one encoder pass per frame, memory entries pooled from the frame's own features.
    Only for measuring what caching saves inside PyTorch (bench_cost.py); on this
    project's modules (a Network), whose decoder can pool."""

    @torch.no_grad()
    def step(self, rgb: np.ndarray, prompts: dict):
        image, resized = prepare_image(rgb, self.size)
        h, w = rgb.shape[:2]
        t = self.frame
        before = self.encoder_images
        target = self.encode(image[None])
        dec = self.network.model.transformer_decoder
        size = dec.mask_size(target)
        for oid, mask in prompts.items():
            sums, areas = dec.pool_sums(target, prepare_mask(mask, self.size)[None], size)
            self.memory[oid] = self.new_memory()
            self.memory[oid].add(Entry((sums[0], areas[0]), None, t, 1.0))
        ids = sorted(self.memory)
        tokens = []
        for oid in ids:
            entries = self.memory[oid].entries()
            total = sum(e.image[0] for e in entries)
            area = sum(e.image[1] for e in entries)
            tokens.append(total / (area + 1e-8))
        id_logits, id_masks, _, _ = dec(target, torch.stack(tokens)[None])
        logits = to_frame(id_masks[0], self.size, resized, (h, w))
        binary, scores = mask_score(id_logits[0].softmax(-1)[:, 0], logits)
        masks = torch.stack([prepare_mask(b.numpy(), self.size) for b in binary])
        sums, areas = dec.pool_sums(target, masks, size)
        result = {}
        for i, oid in enumerate(ids):
            result[oid] = (id_logits[0, i].clone(), logits[i], binary[i], float(scores[i]))
            self.memory[oid].add(Entry((sums[i], areas[i]), None, t, float(scores[i])))
        self.frame += 1
        return result, self.encoder_images - before
