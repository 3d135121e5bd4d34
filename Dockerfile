# The suite's OpenEnv server as an image (openenv.yaml names the same app; `openenv build` uses this file).
#   docker build -t sftrl-openenv . && docker run -p 8000:8000 sftrl-openenv
# BASE_IMAGE may be OpenEnv's base image (ghcr.io/huggingface/openenv-base); any Python 3.10+ image works.
# CI does not build it (no Docker there); the tests start the same app with uvicorn and the sftrl-openenv command.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

WORKDIR /app/env
COPY . /app/env
RUN pip install --no-cache-dir ".[openenv]"

ENV SFTRL_OPENENV_MAX_SESSIONS=64
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"
CMD ["uvicorn", "sftrl_openenv.server.app:app", "--host", "0.0.0.0", "--port", "8000"]
