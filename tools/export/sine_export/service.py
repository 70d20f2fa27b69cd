"""Running SineGrpc's server from the repository and talking to it (Debian's grpcio only)."""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SERVER_DLL = os.path.join(REPO, "src/SineGrpc.Server/bin/Release/net10.0/SineGrpc.Server.dll")


def load_stubs():
    """Generates the Python stubs of protos/sine/v1/sine.proto into a temporary folder and imports them."""
    out = tempfile.mkdtemp(prefix="sine-stubs-")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(REPO, "protos"),
                    f"--python_out={out}", f"--grpc_python_out={out}", "sine/v1/sine.proto"], check=True)
    sys.path.insert(0, out)
    from sine.v1 import sine_pb2, sine_pb2_grpc
    return sine_pb2, sine_pb2_grpc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The built server (dotnet build src/SineGrpc.Server -c Release) on loopback ports,
    serving the bundles under models_path only."""

    def __init__(self, models_path, log_path, build=True):
        self.models_path = models_path
        self.log_path = log_path
        self.build = build
        self.port, self.metrics_port = free_port(), free_port()
        self.process = None

    def __enter__(self):
        if self.build:
            subprocess.run(["dotnet", "build", os.path.join(REPO, "src/SineGrpc.Server"), "-c", "Release", "-nologo", "-v", "q"],
                           check=True, stdout=subprocess.DEVNULL)
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            ["dotnet", SERVER_DLL,
             f"--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:{self.port}",
             f"--Kestrel:Endpoints:Metrics:Url=http://127.0.0.1:{self.metrics_port}",
             f"--Engine:ModelsPath={self.models_path}", "--Engine:EnableEmbeddedModel=false"],
            cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, stub, pb, timeout=120):
        import grpc
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}); log: {self.tail()}")
            try:
                return stub.ListModels(pb.ListModelsRequest(), timeout=5)
            except grpc.RpcError:
                time.sleep(0.5)
        raise RuntimeError(f"the server was not ready in {timeout} s; log: {self.tail()}")

    def encoder_runs(self):
        """Encoder runs so far, from the Prometheus endpoint (sine.inference.duration count)."""
        # The exporter answers a scrape within 300 ms of the last one from its cache (OpenTelemetry's
        # ScrapeResponseCacheDurationMilliseconds default): a short run would read the count from before it.
        time.sleep(0.5)
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).read().decode()
        total = 0
        for line in text.splitlines():
            if line.startswith("sine_inference_duration_seconds_count") and 'component="encoder"' in line:
                total += int(float(line.rsplit(" ", 1)[1]))
        return total

    def tail(self, n=40):
        self.log.flush()
        with open(self.log_path) as f:
            return "".join(f.readlines()[-n:])

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def rle_decode(counts: str, h: int, w: int) -> np.ndarray:
    """COCO compressed RLE (column-major) -> HxW bool array."""
    runs, p, s = [], 0, counts.encode()
    while p < len(s):
        x, k, more = 0, 0, 1
        while more:
            c = s[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = c & 0x20
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    flat = np.zeros(h * w, np.uint8)
    pos, v = 0, 0
    for r in runs:
        flat[pos:pos + r] = v
        pos += r
        v ^= 1
    assert pos == h * w, (pos, h * w)
    return flat.reshape(w, h).T.astype(bool)


def rle_counts(mask: np.ndarray):
    """HxW bool -> uncompressed COCO run lengths (column-major, starting with zeros)."""
    flat = np.asarray(mask, dtype=np.uint8).T.reshape(-1)
    runs, value, run = [], 0, 0
    for v in flat:
        if v == value:
            run += 1
        else:
            runs.append(run)
            value, run = v, 1
    runs.append(run)
    return runs


def raw_image(pb, rgb: np.ndarray):
    h, w = rgb.shape[:2]
    return pb.Image(raw=pb.RawImage(width=w, height=h, format=pb.PIXEL_FORMAT_RGB24, data=np.ascontiguousarray(rgb).tobytes()))


def prompt(pb, object_id, mask):
    h, w = mask.shape
    return pb.Prompt(object_id=object_id, mask=pb.Mask(rle=pb.Rle(height=h, width=w, uncompressed_counts=rle_counts(mask))))


def synthetic_clip(width=224, height=168, frames=12, seed=0):
    """A deterministic multi-object clip: a smooth textured background and three
    textured shapes moving across it; objects 1 and 2 are prompted on frame 0, object 3
    (appearing later) on frame 4. Returns (frames [T,H,W,3] uint8, {frame: {id: mask}})."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    coarse = rng.random((6, 8, 3)).astype(np.float32)
    background = np.stack([np.kron(coarse[:, :, c], np.ones((height // 6 + 1, width // 8 + 1)))[:height, :width]
                           for c in range(3)], axis=-1)
    shapes = [
        # id, colour, start (x, y), velocity, radius, kind, first frame
        (1, (0.9, 0.2, 0.1), (0.25, 0.35), (0.020, 0.010), 0.13, "disc", 0),
        (2, (0.1, 0.3, 0.9), (0.70, 0.60), (-0.015, -0.012), 0.12, "square", 0),
        (3, (0.2, 0.85, 0.3), (0.45, 0.80), (0.010, -0.020), 0.10, "diamond", 4),
    ]
    video, prompts = [], {}
    for t in range(frames):
        img = background * 0.6 + 0.2 + 0.05 * np.sin(xx / 7 + t)[:, :, None]
        for oid, colour, (x0, y0), (vx, vy), r, kind, first in shapes:
            if t < first:
                continue
            cx, cy = (x0 + vx * t) * width, (y0 + vy * t) * height
            rad = r * min(width, height)
            dx, dy = xx - cx, yy - cy
            inside = {"disc": dx ** 2 + dy ** 2 <= rad ** 2,
                      "square": (np.abs(dx) <= rad) & (np.abs(dy) <= rad),
                      "diamond": np.abs(dx) + np.abs(dy) <= 1.3 * rad}[kind]
            texture = 0.1 * np.sin((xx + yy) / 3)[:, :, None]
            img = np.where(inside[:, :, None], np.array(colour, np.float32) + texture, img)
            if t == first:
                prompts.setdefault(t, {})[oid] = inside.copy()
        noise = rng.normal(0, 0.02, img.shape)
        video.append(np.clip((img + noise) * 255, 0, 255).round().astype(np.uint8))
    return np.stack(video), prompts


def judo_clip(frames=16):
    """cutie-examples/judo from ../shared/data: real 854x480 footage where objects join on
    frames 0, 5, 8 and 13 (each mask file brings new ids). A mask one pixel short of its
    frame is padded with background, as the service's API does."""
    from PIL import Image
    root = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "cutie-examples"))
    images, masks = os.path.join(root, "images", "judo"), os.path.join(root, "masks", "judo")
    if not os.path.isdir(images) or not os.path.isdir(masks):
        raise SystemExit(f"--clip judo reads {images} and {masks}, which are absent: this check needs "
                         "../shared/data (the project's shared data folder beside the repository)")
    names = sorted(os.listdir(images))[:frames]
    video = np.stack([np.array(Image.open(os.path.join(images, n)).convert("RGB")) for n in names])
    h, w = video.shape[1:3]
    prompts, seen = {}, set()
    for t, n in enumerate(names):
        path = os.path.join(masks, n[:-4] + ".png")
        if not os.path.exists(path):
            continue
        ids = np.array(Image.open(path))
        ids = np.pad(ids, ((0, max(0, h - ids.shape[0])), (0, max(0, w - ids.shape[1]))))[:h, :w]
        new = {int(v): ids == v for v in np.unique(ids) if v != 0 and int(v) not in seen}
        if new:
            prompts[t] = new
            seen.update(new)
    return video, prompts
