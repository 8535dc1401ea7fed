# One camera per container, one Dockerfile for every box; deploy/build-image.sh builds it:
#
#   deploy/build-image.sh amd64     # streamer:amd64, x86-64 CPU (base python:3.11-slim-bookworm)
#   deploy/build-image.sh arm64     # streamer:arm64, 64-bit ARM CPU (base arm64v8/python:3.11-slim-bookworm)
#   deploy/build-image.sh jetson    # streamer:jetson-jp6, on the Jetson: L4T JetPack base and
#                                   # onnxruntime-gpu (TensorRT, CUDA) from NVIDIA's Jetson index
#
#   docker run -d --name dock-3 --restart unless-stopped \
#     -v /srv/streamer/dock-3:/config:ro -v streamer-dock-3:/data \
#     -e ROBOFLOW_API_KEY -e CAM_PASSWORD streamer:amd64   # runs /config/streamer.yaml
#
# On a Jetson add `--runtime nvidia`; TensorRT engines are kept in /data/cache/trt (the data
# volume), so only the first start builds them. docs/deployment.md has every step and tag.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

# Extras to install: "roboflow" for `kind: roboflow` models (inference 0.59.1, ~1.3 GB).
ARG EXTRAS=""
# onnxruntime build: onnxruntime (CPU, PyPI; a version may be pinned, "onnxruntime==1.23.2")
# or onnxruntime-gpu (CUDA/TensorRT, with PIP_EXTRA_INDEX_URL naming NVIDIA's Jetson index).
ARG ORT_PACKAGE=onnxruntime
ARG PIP_EXTRA_INDEX_URL=""

# L4T bases may lack pip. No libGL/glib (350 MB of mesa): the image swaps in OpenCV's
# headless wheel below, which needs neither.
RUN python3 -m pip --version >/dev/null 2>&1 \
    || (apt-get update && apt-get install -y --no-install-recommends python3-pip \
        && rm -rf /var/lib/apt/lists/*)

WORKDIR /app
COPY pyproject.toml README.md ./
COPY deploy/healthcheck.py /usr/local/bin/streamer-healthcheck
COPY deploy/requirements.py /tmp/requirements.py
# streamer's dependencies first, in a layer of their own (read from pyproject.toml): a change
# to streamer's code then rebuilds only the small layer after it, which matters most for an
# arm64 image built under emulation (its pip install takes minutes there).
# One layer, no pip cache. opencv-python (a dependency of trackers) is replaced by the
# headless wheel of the same version: the same cv2 (HOG detector and cascades included)
# without the GUI libraries, so no libGL/mesa in the image. --no-deps, so pip does not pull
# opencv-python back in. onnxruntime and onnxruntime-gpu install the same `onnxruntime`
# module, and streamer's dependency pulls the CPU one: with a GPU build asked for, keep only
# that. A pinned CPU build is resolved together with the other dependencies instead.
RUN python3 /tmp/requirements.py "$EXTRAS" > /tmp/requirements.txt \
    && case "$ORT_PACKAGE" in onnxruntime|onnxruntime[=\<\>~!]*) CPU_ORT=$ORT_PACKAGE ;; *) CPU_ORT="" ;; esac \
    && python3 -m pip install --no-cache-dir -r /tmp/requirements.txt "${CPU_ORT:-onnxruntime}" \
    && OPENCV=$(python3 -c "from importlib.metadata import version; print(version('opencv-python'))") \
    && python3 -m pip uninstall -y opencv-python \
    && python3 -m pip install --no-cache-dir --no-deps "opencv-python-headless==$OPENCV" \
    && python3 -c "import cv2; cv2.HOGDescriptor_getDefaultPeopleDetector()" \
    && if [ -z "$CPU_ORT" ]; then \
        python3 -m pip uninstall -y onnxruntime \
        && python3 -m pip install --no-cache-dir --force-reinstall --no-deps \
           ${PIP_EXTRA_INDEX_URL:+--extra-index-url "$PIP_EXTRA_INDEX_URL"} "$ORT_PACKAGE"; \
    fi \
    && python3 -c "import onnxruntime, cv2, av; print('onnxruntime', onnxruntime.__version__, \
onnxruntime.get_available_providers(), 'opencv', cv2.__version__, 'av', av.__version__)" \
    && chmod 0755 /usr/local/bin/streamer-healthcheck \
    && rm /tmp/requirements.txt /tmp/requirements.py

COPY streamer ./streamer
COPY configs ./configs
RUN python3 -m pip install --no-cache-dir --no-deps ".${EXTRAS:+[$EXTRAS]}" \
    && python3 -c "import streamer.cli"

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
