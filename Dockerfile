# feedback-classifier: the REST service on the committed model, without torch.
#
#   docker build -t feedback-classifier .
#   docker run --rm -p 8000:8000 --stop-timeout 35 -e FEEDBACK_API_KEYS=<16+ characters> feedback-classifier
#
# Stage `build` installs torch (CPU build) and exports the int8 ONNX model from the committed
# adapters; the runtime stage installs only pyproject's [project].dependencies, then the model
# files the ONNX backend reads and the project's wheel. Behind a mirror, pass PIP_INDEX_URL,
# PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS or PIP_TRUSTED_HOST, and TORCH_INDEX_URL (or an empty
# TORCH_INDEX_URL with the torch wheel in PIP_FIND_LINKS). See README "Run with Docker".

ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_EXTRA_INDEX_URL=
ARG PIP_FIND_LINKS=
ARG PIP_TRUSTED_HOST=
# The CPU build of torch; without it pip would take the CUDA build and several GB with it.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PATH=/opt/build/bin:$PATH \
    ORT_DISABLE_TELEMETRY=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that code changes reuse this layer.
COPY pyproject.toml ./
RUN python3 -m venv /opt/build \
 && python3 -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['build']))" > requirements.txt \
 && PIP_EXTRA_INDEX_URL="$PIP_EXTRA_INDEX_URL $TORCH_INDEX_URL" \
    pip install -r requirements.txt "setuptools>=68" wheel

# The model, rebuilt deterministically from the committed artifact (the same bytes as
# `make model`); then the project as a wheel for the runtime stage.
COPY model/ model/
COPY service/ service/
COPY training/ training/
RUN python3 -m service export --model model/default
COPY README.md ./
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /dist .


FROM ${BASE_IMAGE} AS runtime
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_EXTRA_INDEX_URL=
ARG PIP_FIND_LINKS=
ARG PIP_TRUSTED_HOST=
# ONNX Runtime 1.32+ uploads usage telemetry on Linux unless ORT_DISABLE_TELEMETRY=1: a
# self-hosted service that reads customer comments sends nothing anywhere.
ENV PATH=/opt/venv/bin:$PATH \
    ORT_DISABLE_TELEMETRY=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A fixed UID/GID so that volumes and Kubernetes securityContext can name it.
RUN groupadd --system --gid 10001 feedback \
 && useradd --system --uid 10001 --gid feedback --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin feedback \
 && mkdir /data && chown feedback:feedback /data

# Serving dependencies only (no torch), in their own layer before any code.
COPY pyproject.toml /tmp/pyproject.toml
RUN python3 -m venv /opt/venv \
 && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt \
 && rm /tmp/pyproject.toml /tmp/requirements.txt

# What the onnx backend reads (model/backends required_files) plus the manifest that marks
# the build current, so nothing is built or downloaded at start. Owned by root, read-only.
COPY --from=build /src/model/default/artifact.json /src/model/default/MODEL_CARD.md /opt/model/
COPY --from=build /src/model/default/build/manifest.json /src/model/default/build/model.int8.onnx /src/model/default/build/tokenizer.json /opt/model/build/

COPY --from=build /dist/ /tmp/dist/
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps /tmp/dist/*.whl \
 && rm -rf /tmp/dist

# Configuration is environment variables only (README "Settings"). production refuses to
# start without FEEDBACK_API_KEYS. The user has no home: a cache, if anything wants one (an
# artifact mounted without its build/ looks there before saying it cannot build without
# torch), goes to /tmp.
ENV FEEDBACK_ENVIRONMENT=production \
    FEEDBACK_HOST=0.0.0.0 \
    FEEDBACK_PORT=8000 \
    FEEDBACK_MODEL_PATH=/opt/model \
    FEEDBACK_DATA_DIR=/data \
    XDG_CACHE_HOME=/tmp/.cache

VOLUME /data
WORKDIR /data
USER 10001:10001
EXPOSE 8000
# uvicorn stops taking connections on SIGTERM and finishes requests in flight (up to 30 s:
# give the orchestrator a longer stop timeout, e.g. --stop-timeout 35).
STOPSIGNAL SIGTERM
# python3 rather than curl: slim images have no curl.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('FEEDBACK_PORT', '8000'), timeout=2)"]
# Exec form: uvicorn is PID 1 and gets the signals itself.
ENTRYPOINT ["feedback-classifier"]
CMD ["serve"]
