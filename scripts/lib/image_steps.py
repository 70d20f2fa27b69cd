"""Runs the Dockerfile's steps without Docker (the project's machines have no Docker engine
and cannot pull its base images), so that what can go wrong in the image outside CUDA
shows here first:

- the build stage from exactly the files its COPY lines take from the build context (the
  repository's files that .dockerignore keeps), then its RUN lines as written: restore, a
  self-contained publish, the Windows DLLs removed;
- the runtime stage on this host: its native-library check (ldd, every library but CUDA's,
  which needs the CUDA base image), its other RUN lines (the embedded model built by the
  published binary, the /models folder), then the server started as the image starts it:
  its ENTRYPOINT with nothing but the image's ENV (no .NET on PATH), in its WORKDIR, as its
  USER (uid 10001 through setpriv when run as root) with the app and model folders
  read-only to it; it must serve the embedded model from the folder built at image build
  time (building nothing itself), answer on its metrics port, and drain and exit 0 on
  SIGTERM.

Container paths (/src, /app, /models, /opt, /home) live under a scratch folder and the
ports are free loopback ones; the RUN lines that need the base image (apt-get, useradd)
are skipped and said so: scripts/install-deps installs the same libraries here.
Run by scripts/check-image [--keep] (--keep leaves the scratch folder and says where).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTAINER_ROOTS = ("app", "src", "models", "opt", "home")
CLIENT = os.path.join(REPO, "src/SineGrpc.Client/bin/Release/net10.0/sine.dll")


def fail(message):
    sys.exit(f"check-image: FAIL: {message}")


def instructions(text):
    """(KEYWORD, arguments) per instruction: continuation lines joined, comments dropped."""
    result, current = [], ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.lstrip().startswith("#"):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            if current.strip():
                keyword, _, rest = current.strip().partition(" ")
                result.append((keyword.upper(), rest.strip()))
            current = ""
    return result


def stages(text):
    """{stage name: [(KEYWORD, arguments)]} in order, the FROM lines' `AS` names."""
    result, current = {}, None
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            current = result.setdefault(rest.split()[-1], [])
        elif current is not None:
            current.append((keyword, rest))
    return result


class Paths:
    """Container paths mapped under the scratch root."""

    def __init__(self, root):
        self.root = root
        self.pattern = re.compile(r'(?<![\w.\-/$])/(' + "|".join(CONTAINER_ROOTS) + r')(?=[/\s"\',;]|$)')

    def map(self, text):
        return self.pattern.sub(lambda m: self.root + m.group(0), text)


def dockerignore_patterns():
    patterns = []
    with open(os.path.join(REPO, ".dockerignore")) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("!"):
                fail(".dockerignore exceptions (!) are not supported by this check")
            pattern = line.strip("/")
            regex = ""
            i = 0
            while i < len(pattern):
                if pattern.startswith("**/", i):
                    regex += "(?:.*/)?"
                    i += 3
                elif pattern.startswith("**", i):
                    regex += ".*"
                    i += 2
                elif pattern[i] == "*":
                    regex += "[^/]*"
                    i += 1
                elif pattern[i] == "?":
                    regex += "[^/]"
                    i += 1
                else:
                    regex += re.escape(pattern[i])
                    i += 1
            patterns.append(re.compile(regex + "$"))
    return patterns


def build_context(destination):
    """The repository's files that .dockerignore keeps (a pattern that matches a folder drops what it holds)."""
    patterns = dockerignore_patterns()
    # What git tracks or would track, as in a fresh clone of this working tree.
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, check=True, capture_output=True).stdout.decode().split("\0")
    kept = 0
    for path in sorted(set(filter(None, files))):
        if not os.path.isfile(os.path.join(REPO, path)):
            continue   # deleted in the working tree
        parts = path.split("/")
        prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        if any(p.match(prefix) for p in patterns for prefix in prefixes):
            continue
        target = os.path.join(destination, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(REPO, path), target)
        kept += 1
    print(f"check-image: build context: {kept} of the repository's files (.dockerignore drops the rest)")


def copy(arguments, context, workdir):
    """COPY <source>... <destination> from the build context, as Docker does it."""
    *sources, destination = arguments.split()
    if any(s.startswith("--") for s in sources):
        fail(f"COPY flags in the build stage are not supported by this check: COPY {arguments}")
    target = os.path.normpath(os.path.join(workdir, destination))
    for source in sources:
        path = os.path.join(context, source)
        if os.path.isdir(path):
            shutil.copytree(path, target, dirs_exist_ok=True)
        elif os.path.isfile(path):
            if destination.endswith("/") or len(sources) > 1:
                os.makedirs(target, exist_ok=True)
                shutil.copy2(path, target)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy2(path, target)
        else:
            fail(f"COPY {arguments}: {source} is not in the build context (check .dockerignore)")


def run_shell(command, cwd):
    print(f"check-image: RUN {command}", flush=True)
    subprocess.run(["bash", "-c", command], cwd=cwd, check=True)


def run_build_stage(instructions_, context, paths):
    workdir = paths.root
    for keyword, rest in instructions_:
        if keyword == "WORKDIR":
            workdir = paths.map(rest)
            os.makedirs(workdir, exist_ok=True)
        elif keyword == "COPY":
            copy(rest, context, workdir)
        elif keyword == "RUN":
            run_shell(paths.map(rest), workdir)
        elif keyword not in ("ARG", "ENV"):
            fail(f"build stage: {keyword} is not handled by this check")


def exec_form(rest):
    """The argument list of an exec-form instruction (["a", "b"])."""
    if not rest.startswith("["):
        return None
    return re.findall(r'"((?:[^"\\]|\\.)*)"', rest)


def check_libraries(command, paths):
    """The image's ldd check, on this host, without CUDA's libraries (they need the CUDA base image)."""
    libraries = [paths.map(l) for l in re.findall(r"/app/\S+\.so", command)]
    if not libraries:
        fail("the runtime stage's ldd check names no library")
    here = [l for l in libraries if "cuda" not in os.path.basename(l)]
    for library in libraries:
        if not os.path.isfile(library):
            fail(f"the image's ldd check names {library}, which the publish did not write")
    output = subprocess.run(["ldd", *here], check=True, capture_output=True, text=True).stdout
    missing = [line.strip() for line in output.splitlines() if "not found" in line]
    if missing:
        fail("native libraries missing (run scripts/install-deps):\n" + "\n".join(missing))
    skipped = [os.path.basename(l) for l in libraries if l not in here]
    print(f"check-image: ldd: {', '.join(os.path.basename(l) for l in here)} resolve here "
          f"({', '.join(skipped)} needs the CUDA base image: not checked)")


def environment(rest, paths, ports):
    """ENV KEY=VALUE pairs, container paths mapped and the listening URLs moved to free loopback ports."""
    result = {}
    for pair in rest.split():
        key, _, value = pair.partition("=")
        value = paths.map(value.strip('"'))
        value = re.sub(r"http://0\.0\.0\.0:(\d+)", lambda m: f"http://127.0.0.1:{ports[m.group(1)]}", value)
        result[key] = value
    return result


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Container:
    """What the runtime stage leaves for starting the server, mapped onto this host."""

    def __init__(self, workdir):
        self.env, self.user, self.workdir, self.entrypoint = {}, None, workdir, None

    def setting(self, key):
        return self.env.get(key) or fail(f"the image's ENV sets no {key}")


def run_runtime_stage(runtime, paths):
    """The runtime stage's instructions on this host: /app is the build stage's
    (COPY --from=build /app /app); each port the image listens on gets a free loopback one."""
    exposed = [p for k, rest in runtime if k == "EXPOSE" for p in rest.split()]
    listening = [p for k, rest in runtime if k == "ENV" for p in re.findall(r"http://0\.0\.0\.0:(\d+)", rest)]
    for port in listening:
        if port not in exposed:
            fail(f"ENV listens on port {port}, which the image does not EXPOSE")
    ports = {p: free_port() for p in exposed + listening}
    container = Container(paths.root)
    for keyword, rest in runtime:
        if keyword == "RUN":
            argv = exec_form(rest)
            if argv is not None:
                argv = [paths.map(a) for a in argv]
                print(f"check-image: RUN {' '.join(argv)}", flush=True)
                subprocess.run(argv, cwd=container.workdir, check=True)
            elif "apt-get" in rest:
                print("check-image: skipped (base image): the apt-get line; scripts/install-deps installs the same libraries here")
            elif "useradd" in rest:
                print("check-image: skipped (base image): the user's creation; its uid runs the server below")
            elif re.search(r"\bldd\b", rest):
                check_libraries(rest, paths)
            else:
                run_shell(paths.map(rest), container.workdir)
        elif keyword == "COPY":
            if rest.split()[:1] != ["--from=build"] or paths.map(rest.split()[1]) != paths.map(rest.split()[2]):
                fail(f"runtime stage: COPY {rest} is not handled by this check")
        elif keyword == "ENV":
            container.env.update(environment(rest, paths, ports))
        elif keyword == "USER":
            container.user = rest
        elif keyword == "WORKDIR":
            container.workdir = paths.map(rest)
        elif keyword == "ENTRYPOINT":
            container.entrypoint = [paths.map(a) for a in exec_form(rest) or fail("ENTRYPOINT must be exec form")]
        elif keyword not in ("ARG", "LABEL", "EXPOSE"):
            fail(f"runtime stage: {keyword} is not handled by this check")
    if not container.entrypoint or not container.user:
        fail("the runtime stage has no ENTRYPOINT or no USER")
    # No .NET on PATH: the published server must be self-contained.
    container.env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return container


def as_image_user(container, paths):
    """The ENTRYPOINT run as the image's USER (setpriv, when root), who may write its home
    and /tmp and nothing the server reads (those folders stay root's)."""
    home = container.setting("HOME")
    os.makedirs(home, exist_ok=True)
    uid, _, gid = container.user.partition(":")
    if os.geteuid() == 0:
        os.chown(home, int(uid), int(gid or uid))
        return ["setpriv", f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups", *container.entrypoint]
    print(f"check-image: not root: the server runs as this (non-root) user, not as {container.user}")
    for folder in (paths.map("/app"), paths.map("/opt")):
        subprocess.run(["chmod", "-R", "a-w", folder], check=True)
    return container.entrypoint


def read(path):
    with open(path) as f:
        return f.read()


def serve_and_drain(container, command, log_path):
    """Starts the server as the image does; it must serve the embedded model built at image
    build time, answer on its metrics port, and drain and exit 0 on SIGTERM. Returns its uid."""
    grpc_url = container.setting("Kestrel__Endpoints__Grpc__Url")
    metrics_url = container.setting("Kestrel__Endpoints__Metrics__Url")
    print(f"check-image: starting {' '.join(command)} (gRPC {grpc_url}, metrics {metrics_url})", flush=True)
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=container.workdir, env=container.env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            if server.poll() is not None:
                fail(f"the server exited with {server.returncode} during start-up:\n{read(log_path)[-3000:]}")
            models = subprocess.run(["dotnet", CLIENT, "models", "--server", grpc_url], capture_output=True, text=True)
            if models.returncode == 0:
                break
            time.sleep(1)
        else:
            fail(f"the server did not serve within 300 s:\n{read(log_path)[-3000:]}")
        print(models.stdout, end="")
        if not re.search(r"^resnet18-lp \*", models.stdout, re.M):
            fail("the embedded model resnet18-lp is not listed as the default")
        uid = re.search(r"^Uid:\s+(\d+)", read(f"/proc/{server.pid}/status"), re.M).group(1)
        if os.geteuid() == 0 and uid != container.user.partition(":")[0]:
            fail(f"the server runs as uid {uid}, not the image's {container.user}")
        if "Building embedded model" in read(log_path):
            fail("the server built the embedded model at start instead of using the image's:\n" + read(log_path)[-3000:])
        with urllib.request.urlopen(metrics_url + "/metrics", timeout=30) as response:
            if "sine_" not in response.read().decode():
                fail("the metrics port serves no sine_ metrics")

        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            fail("the server did not exit within 120 s of SIGTERM")
        if code != 0 or "Drained" not in read(log_path):
            fail(f"after SIGTERM the server exited with {code} (want 0, after 'Drained'):\n{read(log_path)[-3000:]}")
        return uid
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def refuses_other_settings(container, command, log_path):
    """A pod that changes the embedded model's settings but keeps the image's cache: the
    server cannot build there, and must say so and what to do, then exit."""
    variant = dict(container.env, Engine__Embedded__InputSize="640")
    with open(log_path, "w") as log:
        code = subprocess.run(command, cwd=container.workdir, env=variant, stdout=log, stderr=subprocess.STDOUT, timeout=120).returncode
    message = "holds no resnet18-lp built with these settings and cannot be written"
    if code == 0 or message not in read(log_path) or "build-embedded-model" not in read(log_path):
        fail(f"with other Engine:Embedded settings on the image's read-only cache the server exited with {code} "
             f"(want non-zero, saying the cache {message} and how to build it):\n{read(log_path)[-3000:]}")
    print("check-image: other Engine:Embedded settings on the image's read-only cache: the server exits, saying so and what to do:")
    print("  " + next(line.strip() for line in read(log_path).splitlines() if message in line))


def main():
    try:
        check()
    except subprocess.CalledProcessError as e:
        fail(f"{' '.join(map(str, e.cmd)) if isinstance(e.cmd, list) else e.cmd} exited with {e.returncode}")
    except subprocess.TimeoutExpired as e:
        fail(f"{e.cmd} did not finish within {e.timeout} s")


def check():
    keep = "--keep" in sys.argv[1:]
    with open(os.path.join(REPO, "Dockerfile")) as f:
        dockerfile = stages(f.read())
    if set(dockerfile) != {"build", "runtime"}:
        fail(f"expected the stages build and runtime, found {', '.join(dockerfile)}")

    subprocess.run(["dotnet", "build", "src/SineGrpc.Client", "-c", "Release", "-nologo", "-v", "quiet"], cwd=REPO, check=True)
    scratch = tempfile.mkdtemp(prefix="check-image-")
    os.chmod(scratch, 0o755)   # the image's user must reach the folders under it
    paths = Paths(os.path.join(scratch, "root"))
    try:
        context = os.path.join(scratch, "context")
        build_context(context)
        run_build_stage(dockerfile["build"], context, paths)
        container = run_runtime_stage(dockerfile["runtime"], paths)
        command = as_image_user(container, paths)
        log_path = os.path.join(scratch, "server.log")
        uid = serve_and_drain(container, command, log_path)
        refuses_other_settings(container, command, log_path)
        print(f"check-image: OK: the image's build stage published from its COPY'd files; as uid {uid} with "
              "read-only app and model folders the published server served the embedded model built at image "
              "build time, answered on its metrics port and drained on SIGTERM (not checked: the base images, apt in them, CUDA)")
    finally:
        if keep:
            print(f"check-image: kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
