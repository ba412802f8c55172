# syntax=docker/dockerfile:1
# The otel-margin backend: `otel-margin serve` migrates the database, then receives OTLP/gRPC on :4317 and
# OTLP/HTTP, REST (/v1/usage) and health (/healthz, /readyz) on :4318.
#
#   docker build -t otel-margin .
#   docker run --init -p 4317:4317 -p 4318:4318 \
#       -e OTEL_MARGIN_DATABASE_URL=postgresql://user:password@db:5432/otel_margin \
#       -e OTEL_MARGIN_INGEST_TOKEN=... otel-margin
#
# docker-compose.yml runs it with TimescaleDB, Grafana and a collector; docs/deploy.md explains the settings.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A system user with a fixed uid, so volumes and Kubernetes' runAsNonRoot work without guessing.
RUN groupadd --system --gid 10001 otel-margin \
    && useradd --system --uid 10001 --gid otel-margin --home-dir /var/lib/otel-margin --create-home \
        --shell /usr/sbin/nologin otel-margin

# The server (otel-margin-server, backend/) and its dependencies, at the versions the project tests
# (requirements.lock as constraints), with the embedded PostgreSQL (used when OTEL_MARGIN_DATABASE_URL is unset)
# and grafana-client for `otel-margin grafana push`. OTEL_MARGIN_EXTRAS=embedded,demo is what
# `otel-margin demo` drives (compose's demo service builds that); the demo extra names the app-side SDK,
# which comes from this checkout (the root project), not from an index.
ARG OTEL_MARGIN_EXTRAS=embedded,grafana
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY otel_margin ./otel_margin
COPY backend ./backend
# The generated dashboards and alert rules, which the server's wheel ships for `otel-margin grafana push`.
COPY dashboards ./dashboards
# urllib3-future (via grafana-client) is built from source with URLLIB3_NO_OVERRIDE so that it installs beside
# urllib3 instead of replacing it.
RUN case ",${OTEL_MARGIN_EXTRAS}," in *,demo,*) sdk=. ;; *) sdk= ;; esac \
    && URLLIB3_NO_OVERRIDE=1 pip install --no-binary urllib3-future --constraint requirements.lock \
        $sdk "./backend[${OTEL_MARGIN_EXTRAS}]" \
    && rm -rf /src \
    && otel-margin version

# Bind every interface inside the container; keep local state (a generated ingest token, or the embedded
# database when OTEL_MARGIN_DATABASE_URL is unset) in the user's home, which compose mounts as a volume.
ENV OTEL_MARGIN_HTTP_HOST=0.0.0.0 \
    OTEL_MARGIN_GRPC_HOST=0.0.0.0 \
    OTEL_MARGIN_DATA_DIR=/var/lib/otel-margin \
    OTEL_MARGIN_LOG_FORMAT=json

WORKDIR /var/lib/otel-margin
USER 10001:10001
EXPOSE 4317 4318

# Ready = the database answers and is migrated (/readyz answers 503 otherwise). Python is the only client here.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request\ntry:\n    urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('OTEL_MARGIN_HTTP_PORT', '4318'), timeout=4)\nexcept Exception as exc:\n    sys.exit('not ready: %s' % exc)"]

ENTRYPOINT ["otel-margin"]
CMD ["serve"]
