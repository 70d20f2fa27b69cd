"""COCO compressed RLE (pycocotools' `counts` strings) to a mask, with numpy only."""
import numpy as np


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
