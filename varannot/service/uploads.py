"""Upload handling: streaming request bodies to disk with size limits, a gzip-bomb guard,
an idle timeout and content sniffing.

The multipart parser writes each file part straight to the data directory, so memory stays flat
for any upload size; :class:`GzipGuard` decompresses on the fly to refuse archives that expand
beyond the limit; :func:`sniff_kind` decides VCF/BCF versus trace from the bytes, never from the
client's file name, which is only ever a label.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import Request
from pydantic import (
    ValidationError,
)
from starlette.requests import ClientDisconnect

from ..readers.bam import is_alignment_file
from ..readers.limits import InflateGuard, InflateLimits, TooLarge
from ..readers.sniff import sniff_kind as sniff_kind
from .problems import ProblemError, _validation_problem
from .schemas import AnnotateRequest, FileOptions
from .settings import GiB, MiB, ServiceSettings, log

_SAFE_LABEL = re.compile(r"[^A-Za-z0-9._+ ()\-]")


# =============================================================================================
# Uploads
# =============================================================================================


@dataclass(slots=True)
class StoredFile:
    """An uploaded file on the server's disk. ``display`` is the client's name, a label only."""

    path: Path
    display: str
    kind: Literal["vcf", "trace", "reads"]
    size: int
    sha256: str = ""

    def to_param(self) -> dict[str, Any]:
        return {"stored": self.path.name, "display": self.display, "kind": self.kind,
                "size": self.size, "sha256": self.sha256}  # fmt: skip


@dataclass(slots=True)
class UploadForm:
    files: list[StoredFile]
    fields: dict[str, str]
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int
    max_trace_bytes: int
    max_files: int
    max_decompressed: int
    max_ratio: float
    ratio_floor: int
    idle_timeout: float

    hint: str = ""
    deadline: float | None = None

    @classmethod
    def of(cls, s: ServiceSettings, *, sync: bool = False) -> Limits:
        """Jobs take up to ``max_upload_bytes``; synchronous requests a smaller share."""
        if sync and s.max_sync_upload_bytes < s.max_upload_bytes:
            return cls(s.max_sync_upload_bytes, s.max_trace_bytes, s.max_files,
                       s.max_decompressed_bytes, s.max_compression_ratio,
                       s.compression_ratio_floor_bytes, s.body_timeout_s,
                       "; submit large inputs to POST /v1/jobs", s.body_deadline_s)  # fmt: skip
        return cls(s.max_upload_bytes, s.max_trace_bytes, s.max_files, s.max_decompressed_bytes,
                   s.max_compression_ratio, s.compression_ratio_floor_bytes, s.body_timeout_s,
                   deadline=s.body_deadline_s)  # fmt: skip


def _human(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def too_large(limit: int, what: str = "the upload", hint: str = "") -> ProblemError:
    return ProblemError(
        413,
        "Upload too large",
        f"{what} exceeds the limit of {limit} bytes ({_human(limit)}){hint}",
        source="request",
    )


class GzipGuard(InflateGuard):
    """The library's :class:`~varannot.readers.limits.InflateGuard` as an HTTP 413.

    Decompresses an upload as it arrives, only to count: the same ratio and size limits the
    CLI's readers apply, so a gzip bomb is refused the same way by both.
    """

    def __init__(self, display: str, limits: Limits):
        super().__init__(
            InflateLimits(limits.max_decompressed, limits.max_ratio, limits.ratio_floor)
        )
        self.display = display

    def check(self) -> None:
        try:
            super().check()
        except TooLarge as exc:
            raise ProblemError(
                413,
                "Decompressed input too large",
                f"{self.display} {exc.message}",
                source=self.display,
            ) from None


def display_name(filename: str | None, index: int) -> str:
    """A safe label from the client's file name (base name, no control or odd characters)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _SAFE_LABEL.sub("_", name).strip(" .")[:120]
    return name or f"upload-{index}"


def _label_stem(display: str) -> str:
    base = display
    for ext in (".gz", ".bgz", ".bgzf"):
        if base.endswith(ext):
            base = base[: -len(ext)]
    for ext in (".vcf", ".bcf", ".g", ".ab1", ".abi", ".scf", ".bam", ".cram"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
    return base or "sample"


class _FileSink:
    """One file part streamed to ``dir/part-N`` (renamed by kind once complete)."""

    def __init__(self, directory: Path, index: int, display: str, limits: Limits):
        self.path = directory / f"part-{index}"
        self.index = index
        self.display = display
        self.limits = limits
        self.fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()/abort()
        self.size = 0
        self.head = bytearray()  # first bytes, for the magic
        self.undecided: bytearray | None = bytearray()  # until 2 bytes say gzip or not
        self.guard: GzipGuard | None = None
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self.fh.write(data)
        self.sha.update(data)
        if len(self.head) < 136:
            self.head += data[: 136 - len(self.head)]
        if self.guard is not None:
            self.guard.feed(data)
        elif self.undecided is not None:
            self.undecided += data
            if len(self.undecided) >= 2:
                if self.undecided[:2] == b"\x1f\x8b":
                    self.guard = GzipGuard(self.display, self.limits)
                    self.guard.feed(bytes(self.undecided))
                self.undecided = None

    def close(self) -> StoredFile:
        self.fh.close()
        kind, suffix = sniff_kind(bytes(self.head), self.display)
        if suffix == ".vcf.gz" and is_alignment_file(self.path):
            kind, suffix = "reads", ".bam"
        if kind == "trace" and self.size > self.limits.max_trace_bytes:
            raise too_large(self.limits.max_trace_bytes, f"trace {self.display}")
        final = self.path.with_name(f"input-{self.index}{suffix}")
        self.path.rename(final)
        return StoredFile(final, self.display, kind, self.size, self.sha.hexdigest())

    def abort(self) -> None:
        with suppress(OSError):
            self.fh.close()


async def _chunks(
    request: Request, idle_timeout: float, deadline: float | None = None
) -> AsyncIterator[bytes]:
    """The request body, failing with 408 when the client stops sending for ``idle_timeout`` or
    the whole body takes longer than ``deadline`` (a trickle of one byte every few seconds).

    A client that hangs up mid-body is logged as a 499 line, not an error with tracebacks.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline if deadline is not None else None
    it = request.stream().__aiter__()
    received = 0
    while True:
        wait = idle_timeout if end is None else min(idle_timeout, max(0.0, end - loop.time()))
        try:
            chunk = await asyncio.wait_for(it.__anext__(), wait)
        except StopAsyncIteration:
            return
        except ClientDisconnect:
            log.info(
                "499 client closed the connection after %d bytes of the body of %s %s",
                received, request.method, request.url.path,
            )  # fmt: skip
            raise ProblemError(
                499, "Client closed request", f"the connection closed after {received} bytes",
                source="request",
            ) from None  # fmt: skip
        except TimeoutError:
            if end is not None and loop.time() >= end:
                detail = f"the request body took longer than {deadline:g} s"
            else:
                detail = f"no data received for {idle_timeout:g} s while reading the request body"
            raise ProblemError(408, "Request body timeout", detail, source="request") from None
        if chunk:
            received += len(chunk)
            yield chunk


def _check_length(request: Request, limit: int, hint: str = "") -> None:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise ProblemError(400, "Bad Content-Length", source="request") from None
        if n > limit:
            raise too_large(limit, hint=hint)


async def read_multipart(request: Request, dest: Path, limits: Limits) -> UploadForm:
    """Stream a ``multipart/form-data`` body: file parts to ``dest``, fields to memory (small).

    The total body is limited, each gzip file part is guarded while it arrives, and nothing
    of a file is held in memory beyond one network chunk.
    """
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise ProblemError(
            400, "Malformed multipart body", "no boundary in Content-Type", source="request"
        )
    _check_length(request, limits.max_bytes, limits.hint)
    dest.mkdir(parents=True, exist_ok=True)
    files: list[StoredFile] = []
    fields: dict[str, str] = {}
    st: dict[str, Any] = {"headers": {}, "field": b"", "value": b"", "sink": None, "buf": None}

    def on_part_begin() -> None:
        st.update(headers={}, field=b"", value=b"", sink=None, buf=None, name=None)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        st["field"] += data[start:end]
        _header_limit()

    def on_header_value(data: bytes, start: int, end: int) -> None:
        st["value"] += data[start:end]
        _header_limit()

    def _header_limit() -> None:
        if len(st["field"]) + len(st["value"]) > 16 * 1024:
            raise ProblemError(400, "Malformed multipart body", "a part header is over 16 KiB")

    def on_header_end() -> None:
        st["headers"][st["field"].lower()] = st["value"]
        st["field"], st["value"] = b"", b""

    def on_headers_finished() -> None:
        disp, opts = parse_options_header(st["headers"].get(b"content-disposition", b""))
        if disp != b"form-data" or b"name" not in opts:
            raise ProblemError(400, "Malformed multipart body", "a part has no form-data name")
        name = opts[b"name"].decode("utf-8", "replace")
        st["name"] = name
        if name == "file":
            if len(files) >= limits.max_files:
                raise ProblemError(
                    422, "Too many files", f"at most {limits.max_files} files per request"
                )
            raw = opts.get(b"filename")
            label = display_name(raw.decode("utf-8", "replace") if raw else None, len(files) + 1)
            st["sink"] = _FileSink(dest, len(files) + 1, label, limits)
        elif name in FileOptions.model_fields:
            if name in fields:
                raise ProblemError(422, "Invalid form", f"form field {name!r} given twice")
            st["buf"] = bytearray()
        else:
            raise ProblemError(
                422,
                "Invalid form",
                f"unknown form field {name!r}; expected 'file' and optionally "
                + ", ".join(FileOptions.model_fields),
                source="request",
            )

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if st["sink"] is not None:
            st["sink"].write(data[start:end])
        else:
            st["buf"] += data[start:end]
            if len(st["buf"]) > 64 * 1024:
                raise too_large(64 * 1024, f"form field {st['name']!r}")

    def on_part_end() -> None:
        sink: _FileSink | None = st["sink"]
        if sink is not None:
            st["sink"] = None
            files.append(sink.close())
        elif st["buf"] is not None:
            try:
                fields[st["name"]] = bytes(st["buf"]).decode("utf-8")
            except UnicodeDecodeError:
                raise ProblemError(
                    400, "Invalid form", f"form field {st['name']!r} is not UTF-8 text"
                ) from None

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },  # type: ignore[arg-type]
    )
    total = 0
    try:
        async for chunk in _chunks(request, limits.idle_timeout, limits.deadline):
            total += len(chunk)
            if total > limits.max_bytes:
                raise too_large(limits.max_bytes, hint=limits.hint)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise ProblemError(400, "Malformed multipart body", str(exc), source="request") from None
    finally:
        if st.get("sink") is not None:
            st["sink"].abort()
    if st.get("sink") is not None or (st.get("buf") is not None and st.get("name") not in fields):
        raise ProblemError(400, "Malformed multipart body", "the body ends inside a part")
    if not files:
        raise ProblemError(
            422,
            "No file",
            "send the VCF, VCF.gz, BCF, BAM, CRAM, .ab1 or .scf file in the form field 'file' "
            "(or a JSON body listing variants)",
            source="request",
        )
    digest = hashlib.sha256()
    digest.update(json.dumps(sorted(fields.items())).encode())
    for f in files:
        digest.update(f"{f.display}\0{f.sha256}\0".encode())
    return UploadForm(files, fields, digest.hexdigest())


async def read_json(
    request: Request, limit: int, idle_timeout: float, deadline: float | None = None
) -> AnnotateRequest:
    """The JSON body, size-limited, as a validated ``AnnotateRequest`` (422 on errors)."""
    _check_length(request, limit)
    body = bytearray()
    async for chunk in _chunks(request, idle_timeout, deadline):
        body += chunk
        if len(body) > limit:
            raise too_large(limit, "the JSON body")
    try:
        return AnnotateRequest.model_validate_json(bytes(body))
    except ValidationError as exc:
        raise _validation_problem(exc.errors(include_url=False, include_input=False)) from None
