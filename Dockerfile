# One camera per container. x86 CPU by default; see README for Jetson bases.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

# opencv-python loads libGL and glib at import.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamer ./streamer
COPY configs ./configs
RUN pip install --no-cache-dir .

RUN useradd --create-home --uid 10001 streamer \
    && mkdir -p /config /data \
    && chown streamer:streamer /data
USER streamer
ENV STREAMER_CACHE=/data/cache
WORKDIR /data
VOLUME ["/config", "/data"]

ENTRYPOINT ["streamer"]
CMD ["run", "/config/streamer.yaml"]
