# syntax=docker/dockerfile:1
# kfops container image: `kfops serve` (Slack, PagerDuty and Alertmanager webhooks, /metrics,
# /healthz, /readyz). Build: docker build -t ghcr.io/kfops/kfops:<version> .
# Deployment: docs/deploy.md. Linted statically by tests/unit/test_dockerfile.py.

# The base image, pinned by digest so a rebuild gets the same bytes (Argo CD users pin the
# resulting kfops image by digest too). PLACEHOLDER: the digest below is not a real one and the
# build fails until you pin it. Look the current digest up with
#   docker buildx imagetools inspect docker.io/library/python:3.12-slim
# and pass it:  --build-arg PYTHON_IMAGE=docker.io/library/python:3.12-slim@sha256:<digest>
# (or edit this default). Builder and runtime must use the same image: the virtual environment
# built in the first stage links to that image's Python.
ARG PYTHON_IMAGE=docker.io/library/python:3.12-slim@sha256:0000000000000000000000000000000000000000000000000000000000000000

# ---------------------------------------------------------------- builder: wheel + venv
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
# kfops is pure Python and every dependency ships wheels: --only-binary=:all: refuses to compile
# anything, so neither stage needs a compiler.
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/kfops \
 && /opt/kfops/bin/pip install --only-binary=:all: /wheels/kfops-*.whl \
 && /opt/kfops/bin/kfops --version

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}
ARG KFOPS_VERSION=0.1.0
LABEL org.opencontainers.image.title="kfops" \
      org.opencontainers.image.description="On-call diagnosis ladders and gated remediations for Kubeflow: kfops serve" \
      org.opencontainers.image.source="https://github.com/kfops/kfops" \
      org.opencontainers.image.documentation="https://github.com/kfops/kfops/blob/main/docs/deploy.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${KFOPS_VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.12-slim"

COPY --from=builder /opt/kfops /opt/kfops

# Read-only root filesystem: everything kfops writes (settings.state_dir: proposals, runs.jsonl;
# settings.audit_path) lives under HOME=/var/lib/kfops, an emptyDir in the Deployment; /tmp is a
# second emptyDir. The numeric user (no /etc/passwd entry needed) satisfies runAsNonRoot.
ENV PATH=/opt/kfops/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/kfops \
    KFOPS_STATE_DIR=/var/lib/kfops/state \
    KFOPS_AUDIT_PATH=/var/lib/kfops/state/audit.jsonl
RUN mkdir -p /var/lib/kfops/state && chown -R 65532:65532 /var/lib/kfops
WORKDIR /var/lib/kfops
USER 65532:65532

EXPOSE 8080
# Docker-only (Kubernetes uses the Deployment's probes): healthy when /readyz answers 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["kfops"]
CMD ["serve"]
