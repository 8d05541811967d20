"""Service configuration: :class:`ServiceSettings` and :class:`ApiKey`, read from CLI flags and
``VARANNOT_*`` environment variables.

Every knob of the service (FASTAs and builds, knowledge base, data directory, limits, timeouts,
workers, API keys, CORS) is one validated pydantic field here, so a bad value fails at start-up
with the variable's name instead of surfacing as a runtime error. Also holds the service logger
and the size units shared by the other modules.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

from ..errors import VarannotError
from ..models import Build

log = logging.getLogger("varannot.service")


MiB = 1 << 20
GiB = 1 << 30


# =============================================================================================
# Settings
# =============================================================================================


class ApiKey(BaseModel):
    """One API key: a name (for logs, metrics and job ownership) and the key's SHA-256.

    Only the hash is configured or kept: ``printf %s "$KEY" | sha256sum``.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rate_per_second: float | None = Field(
        default=None, ge=0, description="overrides the default rate"
    )


class ServiceSettings(BaseModel):
    """Everything the service needs; ``from_env`` fills what the CLI does not pass."""

    model_config = ConfigDict(extra="forbid")

    fastas: list[Path] = Field(min_length=1)
    builds: list[Build | None] | None = None
    kb: list[Path] = Field(default_factory=list)
    kb_replace: bool = False
    data_dir: Path = Path("varannot-data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite in data_dir if unset"
    )
    job_workers: int = Field(default=1, ge=0, le=64)
    annotate_threads: int = Field(default=4, ge=1, le=64)
    max_upload_bytes: int = Field(default=GiB, ge=1)
    max_sync_upload_bytes: int = Field(
        default=100 * MiB, ge=1, description="POST /v1/annotate; larger inputs go to /v1/jobs"
    )
    max_trace_bytes: int = Field(default=32 * MiB, ge=1)
    max_json_bytes: int = Field(default=4 * MiB, ge=1)
    max_json_variants: int = Field(default=10_000, ge=1)
    max_files: int = Field(default=16, ge=1)
    max_decompressed_bytes: int = Field(default=16 * GiB, ge=1)
    max_compression_ratio: float = Field(default=200.0, gt=1)
    compression_ratio_floor_bytes: int = Field(default=64 * MiB, ge=0)
    request_timeout_s: float = Field(default=120.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    body_deadline_s: float = Field(
        default=3600.0, gt=0, description="a whole request body, however steady the trickle"
    )
    job_max_attempts: int = Field(default=2, ge=1)
    job_lease_s: float = Field(default=30.0, gt=0)
    job_poll_s: float = Field(default=1.0, gt=0)
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    api_keys: list[ApiKey] = Field(default_factory=list)
    rate_limit_per_second: float = Field(default=0.0, ge=0, description="0 = no limit")
    rate_limit_burst: int = Field(default=20, ge=1)
    cors_origins: list[str] = Field(default_factory=list)
    forwarded_allow_ips: list[str] = Field(
        default_factory=list,
        description="proxies whose X-Forwarded-For/-Proto are believed (uvicorn "
        "forwarded_allow_ips); none by default, so a client cannot pick its own address and "
        "escape the per-client rate limit",
    )
    access_log: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **values: Any) -> ServiceSettings:
        """Explicit ``values`` (the CLI's flags) win over environment variables.

        ``DATABASE_URL``; ``VARANNOT_`` + ``MAX_UPLOAD_BYTES`` (jobs), ``MAX_SYNC_UPLOAD_BYTES``
        (``/v1/annotate``), ``MAX_TRACE_BYTES``,
        ``MAX_JSON_BYTES``, ``MAX_JSON_VARIANTS``, ``MAX_FILES``, ``MAX_DECOMPRESSED_BYTES``,
        ``MAX_COMPRESSION_RATIO``, ``REQUEST_TIMEOUT``, ``BODY_TIMEOUT`` (idle), ``BODY_DEADLINE`` (whole body), ``ANNOTATE_THREADS``,
        ``JOB_MAX_ATTEMPTS``, ``JOB_LEASE``, ``SHUTDOWN_GRACE``, ``RATE_LIMIT`` (requests/s per
        key), ``RATE_BURST``, ``CORS_ORIGINS`` (comma-separated), ``FORWARDED_ALLOW_IPS``
        (comma-separated proxy addresses/networks trusted for X-Forwarded-For; none if unset),
        ``ACCESS_LOG`` (0/1),
        ``API_KEYS`` (``name:sha256[:rate],...``) and ``API_KEYS_FILE`` (one
        ``name sha256 [rate]`` per line).
        """
        env = os.environ if env is None else env
        names = {
            "DATABASE_URL": "database_url",
            "VARANNOT_MAX_UPLOAD_BYTES": "max_upload_bytes",
            "VARANNOT_MAX_SYNC_UPLOAD_BYTES": "max_sync_upload_bytes",
            "VARANNOT_MAX_TRACE_BYTES": "max_trace_bytes",
            "VARANNOT_MAX_JSON_BYTES": "max_json_bytes",
            "VARANNOT_MAX_JSON_VARIANTS": "max_json_variants",
            "VARANNOT_MAX_FILES": "max_files",
            "VARANNOT_MAX_DECOMPRESSED_BYTES": "max_decompressed_bytes",
            "VARANNOT_MAX_COMPRESSION_RATIO": "max_compression_ratio",
            "VARANNOT_REQUEST_TIMEOUT": "request_timeout_s",
            "VARANNOT_BODY_TIMEOUT": "body_timeout_s",
            "VARANNOT_BODY_DEADLINE": "body_deadline_s",
            "VARANNOT_ANNOTATE_THREADS": "annotate_threads",
            "VARANNOT_JOB_MAX_ATTEMPTS": "job_max_attempts",
            "VARANNOT_JOB_LEASE": "job_lease_s",
            "VARANNOT_SHUTDOWN_GRACE": "shutdown_grace_s",
            "VARANNOT_RATE_LIMIT": "rate_limit_per_second",
            "VARANNOT_RATE_BURST": "rate_limit_burst",
            "VARANNOT_ACCESS_LOG": "access_log",
        }
        data: dict[str, Any] = {}
        for var, key in names.items():
            if env.get(var):
                data[key] = env[var]
        if env.get("VARANNOT_FORWARDED_ALLOW_IPS"):
            data["forwarded_allow_ips"] = [
                a.strip() for a in env["VARANNOT_FORWARDED_ALLOW_IPS"].split(",") if a.strip()
            ]
        if env.get("VARANNOT_CORS_ORIGINS"):
            data["cors_origins"] = [o.strip() for o in env["VARANNOT_CORS_ORIGINS"].split(",")]
        keys: list[dict[str, Any]] = []
        for item in (env.get("VARANNOT_API_KEYS") or "").split(","):
            if item.strip():
                keys.append(_key_entry(item.strip().split(":"), "VARANNOT_API_KEYS"))
        if env.get("VARANNOT_API_KEYS_FILE"):
            path = Path(env["VARANNOT_API_KEYS_FILE"])
            try:
                lines = path.read_text().splitlines()
            except OSError as exc:
                raise VarannotError(f"cannot read API keys: {exc}", source=str(path)) from exc
            for n, line in enumerate(lines, 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    keys.append(_key_entry(line.split(), f"{path} line {n}"))
        if keys:
            data["api_keys"] = keys
        data.update({k: v for k, v in values.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            e = exc.errors()[0]
            raise VarannotError(
                f"invalid setting {'.'.join(map(str, e['loc']))}: {e['msg']}",
                source="service settings",
            ) from None


def _key_entry(parts: Sequence[str], where: str) -> dict[str, Any]:
    if len(parts) not in (2, 3):
        raise VarannotError("an API key entry is NAME SHA256 [RATE]", source=where)
    out: dict[str, Any] = {"name": parts[0], "sha256": parts[1].lower()}
    if len(parts) == 3:
        out["rate_per_second"] = parts[2]
    return out
