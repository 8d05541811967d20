# syntax=docker/dockerfile:1.7
#
# varannot HTTP service image: `varannot serve` with the gene-region reference fetched at build
# time, running as a non-root user, jobs and SQLite database in the /data volume.
#
# Build arguments (all optional):
#   PYTHON_VERSION       base image Python (default 3.11)
#   VARANNOT_BUILD       genome build to fetch and serve: GRCh38 (default) or GRCh37
#   VARANNOT_EUTILS_URL  E-utilities base URL for `varannot reference fetch` (default: NCBI);
#                        also accepts file:///mirror/<file>.fa for an offline mirror passed as
#                        the build context "mirror" (see below)
#   EXTRA_PIP            extra pip requirements, e.g. "psycopg[binary]" for DATABASE_URL=postgresql+psycopg://...
# Secret (optional): ncbi_api_key -> NCBI_API_KEY for the fetch (higher NCBI rate limit).
#
#   docker build -t varannot .
#   docker build -t varannot --build-arg VARANNOT_BUILD=GRCh37 .
#   docker build -t varannot --secret id=ncbi_api_key,env=NCBI_API_KEY .
#   # offline, from a mirror FASTA (tests/shared_mirror.py writes one: mirror/mirror.fa):
#   docker build -t varannot --build-context mirror=./mirror \
#       --build-arg VARANNOT_EUTILS_URL=file:///mirror/mirror.fa .
#
#   docker run -p 8000:8000 -v varannot-data:/data varannot
#   # settings: -e DATABASE_URL=... -e VARANNOT_API_KEYS=name:sha256 -e VARANNOT_MAX_UPLOAD_BYTES=...
#   # (see varannot.service.ServiceSettings.from_env); a site knowledge base:
#   docker run -v $PWD/site_kb.tsv:/kb/site.tsv:ro ... varannot \
#       sh -c 'exec varannot serve --fasta /ref/GRCh38.regions.fa --build GRCh38 --kb /kb/site.tsv --host 0.0.0.0 --data-dir /data'

ARG PYTHON_VERSION=3.11

# An empty stage; `--build-context mirror=DIR` replaces it with a directory holding a mirror.
FROM scratch AS mirror

# --------------------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# only what the wheel needs: the build does not see tests, .git or local data
COPY pyproject.toml README.md ./
COPY varannot ./varannot
COPY reference ./reference
ARG EXTRA_PIP=""
RUN pip install . ${EXTRA_PIP} \
    && varannot version

ARG VARANNOT_BUILD=GRCh38
ARG VARANNOT_EUTILS_URL=""
RUN --mount=type=bind,from=mirror,target=/mirror \
    --mount=type=secret,id=ncbi_api_key,required=false \
    set -eu; \
    if [ -f /run/secrets/ncbi_api_key ]; then NCBI_API_KEY="$(cat /run/secrets/ncbi_api_key)"; export NCBI_API_KEY; fi; \
    if [ -n "${VARANNOT_EUTILS_URL}" ]; then export VARANNOT_EUTILS_URL; fi; \
    varannot reference fetch --build "${VARANNOT_BUILD}" --out /ref; \
    varannot reference check --fasta "/ref/${VARANNOT_BUILD}.regions.fa" --build "${VARANNOT_BUILD}"; \
    ls -l /ref

# --------------------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG VARANNOT_BUILD=GRCh38
LABEL org.opencontainers.image.title="varannot" \
      org.opencontainers.image.description="Resistance-mutation annotation (MEN1, BCL2, BAX, TP53) over HTTP"
RUN groupadd --system --gid 10001 varannot \
    && useradd --system --uid 10001 --gid varannot --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin varannot \
    && mkdir -p /data \
    && chown varannot:varannot /data
COPY --from=build /opt/venv /opt/venv
# the reference (FASTA, .fai, manifest) is read-only for the service user
COPY --from=build /ref /ref
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VARANNOT_BUILD=${VARANNOT_BUILD} \
    VARANNOT_JOB_WORKERS=2
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]
# exec: the server replaces the shell as PID 1 and gets SIGTERM itself for a graceful stop
# (running jobs get VARANNOT_SHUTDOWN_GRACE seconds, then go back to the queue)
CMD ["sh", "-c", "exec varannot serve --fasta \"/ref/${VARANNOT_BUILD}.regions.fa\" --build \"${VARANNOT_BUILD}\" --host 0.0.0.0 --port 8000 --data-dir /data --workers \"${VARANNOT_JOB_WORKERS}\""]
