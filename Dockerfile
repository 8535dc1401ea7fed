# One camera per container. x86-64 CPU by default; Jetson with the build args below.
#
#   docker build -t streamer .
#   docker run -d --name dock-3 --restart unless-stopped \
#     -v /srv/streamer/dock-3:/config:ro -v streamer-dock-3:/data \
#     -e ROBOFLOW_API_KEY -e CAM_PASSWORD streamer          # runs /config/streamer.yaml
#
# Jetson (JetPack 6.x = L4T R36, Ubuntu 22.04, Python 3.10, CUDA 12.6): build on the
# device from NVIDIA's L4T JetPack base and replace PyPI's CPU-only onnxruntime with an
# onnxruntime-gpu wheel built for that JetPack (NVIDIA's Jetson AI Lab pip index, jp6/cu126
# — check its current address there; for JetPack 5 / L4T R35, base
# nvcr.io/nvidia/l4t-jetpack:r35.4.1 and the Jetson Zoo onnxruntime-gpu wheel for Python 3.8,
# which is below streamer's 3.10: JetPack 6 is the supported one):
#
#   docker build -t streamer:jetson \
#     --build-arg BASE=nvcr.io/nvidia/l4t-jetpack:r36.4.0 \
#     --build-arg ORT_PACKAGE=onnxruntime-gpu \
#     --build-arg PIP_EXTRA_INDEX_URL=https://pypi.jetson-ai-lab.dev/jp6/cu126 .
#   docker run --runtime nvidia ... streamer:jetson
#
# and list `providers: [TensorrtExecutionProvider, CUDAExecutionProvider]` on the onnx
# models (streamer refuses a provider the installed onnxruntime lacks, by name).
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

# Extras to install: "roboflow" for `kind: roboflow` models (inference 0.59.1, ~1.3 GB).
ARG EXTRAS=""
# onnxruntime build: onnxruntime (CPU, PyPI) or onnxruntime-gpu (CUDA/TensorRT).
ARG ORT_PACKAGE=onnxruntime
ARG PIP_EXTRA_INDEX_URL=""

# L4T bases may lack pip. No libGL/glib (350 MB of mesa): the image swaps in OpenCV's
# headless wheel below, which needs neither.
RUN python3 -m pip --version >/dev/null 2>&1 \
    || (apt-get update && apt-get install -y --no-install-recommends python3-pip \
        && rm -rf /var/lib/apt/lists/*)

WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamer ./streamer
COPY configs ./configs
COPY deploy/healthcheck.py /usr/local/bin/streamer-healthcheck
# One layer, no pip cache. opencv-python (a dependency of trackers) is replaced by the
# headless wheel of the same version: the same cv2 (HOG detector and cascades included)
# without the GUI libraries, so no libGL/mesa in the image. --no-deps, so pip does not pull
# opencv-python back in. onnxruntime and onnxruntime-gpu install the same `onnxruntime`
# module, and streamer's dependency pulls the CPU one: with a GPU build asked for, keep only that.
RUN python3 -m pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}" \
    && OPENCV=$(python3 -c "from importlib.metadata import version; print(version('opencv-python'))") \
    && python3 -m pip uninstall -y opencv-python \
    && python3 -m pip install --no-cache-dir --no-deps "opencv-python-headless==$OPENCV" \
    && python3 -c "import cv2; cv2.HOGDescriptor_getDefaultPeopleDetector()" \
    && if [ "$ORT_PACKAGE" != "onnxruntime" ]; then \
        python3 -m pip uninstall -y onnxruntime \
        && python3 -m pip install --no-cache-dir --force-reinstall --no-deps \
           ${PIP_EXTRA_INDEX_URL:+--extra-index-url "$PIP_EXTRA_INDEX_URL"} "$ORT_PACKAGE"; \
    fi \
    && chmod 0755 /usr/local/bin/streamer-healthcheck

# Non-root; the config is read-only, everything written goes to /data.
RUN useradd --create-home --uid 10001 streamer \
    && mkdir -p /config /data \
    && chown streamer:streamer /data
USER streamer
ENV STREAMER_CACHE=/data/cache \
    MODEL_CACHE_DIR=/data/model-cache \
    STREAMER_MONITOR_PORT=8080 \
    PYTHONUNBUFFERED=1
WORKDIR /data
VOLUME ["/config", "/data"]

# Asks the monitor on 127.0.0.1 inside the container: the config may keep
# `monitor.bind: 127.0.0.1:8080`. To open the page to the LAN instead, bind
# 0.0.0.0:8080 with `token: ${MONITOR_TOKEN}`, publish the port and pass -e MONITOR_TOKEN
# (the probe sends it too). Set STREAMER_MONITOR_PORT when the config uses another port.
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python3", "/usr/local/bin/streamer-healthcheck"]

ENTRYPOINT ["streamer"]
CMD ["run", "/config/streamer.yaml"]
