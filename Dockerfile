# syntax=docker/dockerfile:1
# Container image of the todo service (built by `docker compose build` for the `app` and
# `migrate` services, and by CI/registries for Kubernetes).
#
# Why it looks like this: dependencies come only from the lock (requirements/base.txt), turned
# into wheels and a virtualenv in the builder stage, so the runtime stage has no compiler, no
# pip cache and no build tools. It runs as the fixed non-root uid 10001 and works with a
# read-only root filesystem: give it a writable /tmp and PROMETHEUS_MULTIPROC_DIR
# (default /run/metrics) as tmpfs or emptyDir mounts, and the jobs' export storage as a volume
# at EXPORT_STORAGE_DIR (/var/lib/todo/exports, owned by uid 10001 so a new volume is too).
# The same image runs the Celery worker and beat (docker-compose.yml, k8s/base). Static files are collected at build time.
# gunicorn is PID 1 (exec form) so SIGTERM reaches it and shutdown is graceful.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# ------------------------------------------------------------------ builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build
COPY requirements/base.txt requirements/base.txt
# Wheels from the lock (binary wheels where published; anything else is built here, never in
# the runtime stage), then a virtualenv installed from those wheels only.
RUN pip wheel --wheel-dir /build/wheels -r requirements/base.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /build/wheels -r requirements/base.txt

# ------------------------------------------------------------------ runtime
FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="todo-api" \
      org.opencontainers.image.description="Instrumented Django REST Framework todo service (gunicorn; metrics on :9464)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.13-slim-bookworm"

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    LOG_FORMAT=json \
    PORT=8000 \
    METRICS_PORT=9464

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
COPY manage.py gunicorn.conf.py ./
COPY app ./app

# Static files (admin, Swagger UI) at build time; the throwaway values only satisfy settings
# (no secret is baked into the image; the runtime environment supplies the real ones).
RUN DJANGO_SECRET_KEY=collectstatic-build-only DJANGO_ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /run/metrics /var/lib/todo/exports \
    && chown 10001:10001 /run/metrics /var/lib/todo/exports

# Multiprocess metrics directory: mount a tmpfs/emptyDir here when the root is read-only.
ENV PROMETHEUS_MULTIPROC_DIR=/run/metrics
# Export files of the jobs (shared by the API and the worker): mount a volume here.
ENV EXPORT_STORAGE_DIR=/var/lib/todo/exports

USER 10001:10001
EXPOSE 8000 9464

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=3)"]

# app.serve checks WEB_CONCURRENCY (which gunicorn parses itself, with a bare traceback on a bad
# value) and then runs gunicorn in the same process.
CMD ["python", "-m", "app.serve", "--config", "gunicorn.conf.py"]
