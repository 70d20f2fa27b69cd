# syntax=docker/dockerfile:1
#
# SineGrpc server image: gRPC (h2c) on 5000, Prometheus /metrics on 9464.
# See docs/deploy.md. Build from the repository root:
#
#   docker build -t sine-grpc:dev .
#   docker run --rm --gpus all -p 5000:5000 -p 9464:9464 sine-grpc:dev
#   docker run --rm --gpus all -p 5000:5000 -v "$PWD/models:/models:ro" sine-grpc:dev
#
# Stage 1 publishes the server self-contained for linux-x64 (the .NET 10 runtime ships
# inside /app, so the CUDA base image needs no .NET packages, no Microsoft apt feed,
# and the runtime version is the one the SDK image built against).
# Stage 2 is NVIDIA's CUDA 13 + cuDNN 9 runtime image (what ONNX Runtime 1.31's CUDA
# provider loads: libcublasLt.so.13, libcudart.so.13, libcurand.so.10, libcudnn.so.9)
# plus the GTK libraries that OpenCV's native runtime links. Without a GPU the same
# image runs on ONNX Runtime's CPU provider (Engine__Device=auto falls back, cpu forces).

ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
# Tags are <cuda version>-cudnn-runtime-<os>; any CUDA 13.x works with ORT 1.31
# (CUDA minor-version compatibility) on a host driver that supports CUDA 13 (>= 580).
ARG RUNTIME_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04

# ---------------------------------------------------------------------------------
FROM ${SDK_IMAGE} AS build
WORKDIR /src

# Restore first, from the project files only, so that code edits reuse this layer.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/SineGrpc.Api/SineGrpc.Api.csproj src/SineGrpc.Api/
COPY src/SineGrpc.Engine/SineGrpc.Engine.csproj src/SineGrpc.Engine/
COPY src/SineGrpc.Server/SineGrpc.Server.csproj src/SineGrpc.Server/
RUN dotnet restore src/SineGrpc.Server/SineGrpc.Server.csproj -r linux-x64

COPY protos/ protos/
COPY src/SineGrpc.Api/ src/SineGrpc.Api/
COPY src/SineGrpc.Engine/ src/SineGrpc.Engine/
COPY src/SineGrpc.Server/ src/SineGrpc.Server/
# The ORT GPU package also copies its Windows DLLs (onnxruntime*.dll, ~215 MB) into
# every publish: they are never loaded on Linux, so drop them.
RUN dotnet publish src/SineGrpc.Server/SineGrpc.Server.csproj -c Release -nologo \
        -r linux-x64 --self-contained -o /app \
    && rm -f /app/onnxruntime.dll /app/onnxruntime_providers_*.dll

# ---------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

# OpenCV (libOpenCvSharpExtern.so) links GTK 3 and friends; Ubuntu 24.04 renamed
# libgtk-3-0 to libgtk-3-0t64, older bases keep the old name.
ARG DEBIAN_FRONTEND=noninteractive
RUN set -eux; \
    apt-get update; \
    if apt-cache show libgtk-3-0t64 >/dev/null 2>&1; then gtk=libgtk-3-0t64; else gtk=libgtk-3-0; fi; \
    apt-get install -y --no-install-recommends "$gtk" libatomic1 libdbus-1-3 libdrm2 \
        libfreetype6 libharfbuzz0b libx11-6 ca-certificates; \
    rm -rf /var/lib/apt/lists/*

# A fixed non-root uid/gid, matched by the Kubernetes securityContext (runAsUser 10001).
RUN groupadd --gid 10001 sine \
    && useradd --uid 10001 --gid 10001 --home-dir /home/sine --create-home \
        --shell /usr/sbin/nologin sine

COPY --from=build /app /app

# Fail the build, not the pod, when a native library is missing. libcuda.so.1 is the
# driver's: the NVIDIA container runtime mounts it from the host at start.
RUN set -eu; \
    missing="$(ldd /app/libOpenCvSharpExtern.so /app/libonnxruntime.so /app/libonnxruntime_providers_cuda.so \
        | grep 'not found' | grep -v 'libcuda\.so\.1' || true)"; \
    if [ -n "$missing" ]; then echo "missing native libraries:"; echo "$missing"; exit 1; fi; \
    ldconfig -p | grep -q 'libcudnn\.so\.9' || { echo "cuDNN 9 not found in the base image"; exit 1; }

# Build the embedded resnet18-lp model now (about a second) so pods start without
# building; the folder stays root-owned and read-only to the service, which only
# reads a finished bundle. This also proves the published binary runs on this base.
RUN ["/app/SineGrpc.Server", "build-embedded-model", "/opt/sine-grpc/embedded"]

# /models: the folder of extra model bundles (each sub-folder with a model.json).
# It is empty here; mount a volume over it (docker -v, a Kubernetes PVC or an
# emptyDir filled by an init container). It must exist: a configured ModelsPath
# that is missing stops the service.
RUN mkdir -p /models && chmod 0755 /models

ENV Kestrel__Endpoints__Grpc__Url=http://0.0.0.0:5000 \
    Kestrel__Endpoints__Metrics__Url=http://0.0.0.0:9464 \
    Engine__ModelsPath=/models \
    Engine__EmbeddedModelCache=/opt/sine-grpc/embedded \
    Engine__Device=auto \
    HOME=/home/sine \
    DOTNET_RUNNING_IN_CONTAINER=true \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

LABEL org.opencontainers.image.title="sine-grpc" \
      org.opencontainers.image.description="In-context segmentation (SINE family) over gRPC, ONNX Runtime CUDA 13 / CPU"

USER 10001:10001
WORKDIR /app
EXPOSE 5000 9464
# SIGTERM (Docker's and Kubernetes' default) starts the graceful drain
# (Drain__GracePeriodSeconds, default 30 s): give `docker stop -t` at least that.
ENTRYPOINT ["/app/SineGrpc.Server"]
