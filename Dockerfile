# syntax=docker/dockerfile:1
# Two images from one file (README, "Deploy"):
#   docker build --target bot -t tunebot-bot .       slim Python, no torch: `tunebot serve`
#   docker build --target worker -t tunebot-worker . CUDA runtime + CUDA torch: `tunebot worker`
# Both run as the unprivileged user `tunebot` and take every setting from the
# environment (.env.example lists them); nothing is baked in.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04

# ---------------------------------------------------------------------------
# source: the package, copied from the build context once; both images install
# it from here (and delete it after).
FROM scratch AS source
COPY pyproject.toml README.md /src/
COPY core /src/core
COPY bot /src/bot
COPY cli /src/cli
COPY worker /src/worker

# ---------------------------------------------------------------------------
# bot: the Slack bot. HTTP mode by default (the image's health check probes
# /healthz); Socket Mode when SLACK_APP_TOKEN is set.
FROM ${PYTHON_IMAGE} AS bot

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TUNEBOT_DATA_DIR=/data

RUN groupadd --gid 10001 tunebot \
    && useradd --create-home --uid 10001 --gid 10001 tunebot \
    && mkdir -p /data \
    && chown 10001:10001 /data

COPY --from=source /src /src
# [postgres]: replicas share one PostgreSQL; [s3]: and dataset files in s3://. No [train]:
# the bot never imports torch.
RUN pip install --no-cache-dir "/src[postgres,s3]" \
    && rm -rf /src

USER 10001:10001
WORKDIR /home/tunebot
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:3000/healthz', timeout=3)"]
# HTTP mode serves Slack and the probes on --port; Socket Mode serves the probes
# on --health-port; the same 3000 either way, so the HEALTHCHECK works in both.
CMD ["tunebot", "serve", "--host", "0.0.0.0", "--port", "3000", "--health-port", "3000"]

# ---------------------------------------------------------------------------
# worker: the QLoRA worker on a GPU box. PyPI's Linux torch wheel is the CUDA
# build and brings its own CUDA libraries (pip's nvidia-* packages), so the
# base image's CUDA version need only suit the host driver. Files, jobs,
# adapters, the SQLite store and the Hugging Face cache live in the /data volume.
FROM ${CUDA_IMAGE} AS worker

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/data/huggingface

# Ubuntu's own python3 (3.12 on 24.04); versions follow the pinned base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv \
    && groupadd --gid 10001 tunebot \
    && useradd --create-home --uid 10001 --gid 10001 tunebot \
    && mkdir -p /data \
    && chown 10001:10001 /data

COPY --from=source /src /src
# torch first, pinned as in README.md's install instruction; then the [train] extra.
RUN pip install --no-cache-dir torch==2.13.0 \
    && pip install --no-cache-dir "/src[train]" \
    && python -m worker.tiny_model /opt/tiny \
    && rm -rf /src

USER 10001:10001
WORKDIR /home/tunebot
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
# The tiny offline model makes a fresh container a working smoke test; serve
# real models with --model NAME=PATH_OR_HUB_ID (compose.yaml: TUNEBOT_WORKER_MODEL).
CMD ["tunebot", "worker", "--host", "0.0.0.0", "--port", "8000", "--data-dir", "/data", "--model", "tiny=/opt/tiny"]
