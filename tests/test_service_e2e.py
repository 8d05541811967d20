"""End-to-end: ``varannot serve`` as a real uvicorn process on 127.0.0.1 (a free port).

Covers what an in-process client cannot: concurrent uploads over real sockets, a server killed
(SIGKILL) in the middle of a job and started again on the same data directory, request-body
timeouts, and a schemathesis run against the served OpenAPI document. Nothing leaves loopback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from varannot.reference import FastaReference

ROOT = Path(__file__).resolve().parent.parent
RUN1 = ROOT / "examples" / "run1.vcf"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class LiveServer:
    """One ``python -m varannot.cli serve`` process; ``kill`` is SIGKILL (no clean-up at all)."""

    def __init__(
        self, fasta: Path, data_dir: Path, *, workers: int = 1, env: dict[str, str] | None = None
    ):
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        cmd = [
            sys.executable, "-m", "varannot.cli", "serve", "--fasta", str(fasta), "--build",
            "GRCh38", "--host", HOST, "--port", str(self.port), "--data-dir", str(data_dir),
            "--workers", str(workers),
        ]  # fmt: skip
        full_env = {**os.environ, "VARANNOT_ACCESS_LOG": "0", **(env or {})}
        self.log = data_dir.parent / f"server-{self.port}.log"
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        # cwd outside the checkout: ``-m`` must run the installed package, as users do
        self.proc = subprocess.Popen(
            cmd, env=full_env, stdout=self._log, stderr=self._log, cwd=data_dir.parent
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"server not ready in 60 s: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def live(
    kb_fasta: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    d = tmp_path_factory.mktemp("live")
    server = LiveServer(kb_fasta["GRCh38"], d / "data", env={"VARANNOT_BODY_TIMEOUT": "1"})
    yield server
    server.stop()


def wait_jobs(url: str, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=30) as c:
        while len(done) < len(ids) and time.monotonic() < deadline:
            for job_id in ids:
                if job_id not in done:
                    j = c.get(f"/v1/jobs/{job_id}").json()
                    if j["status"] in ("finished", "failed"):
                        done[job_id] = j
            time.sleep(0.1)
    return done


def read_response(s: socket.socket) -> bytes:
    """One whole HTTP response (head and Content-Length body) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def sample_vcf(name: str) -> bytes:
    return RUN1.read_bytes().replace(b"\tPATIENT_A\tPATIENT_B", f"\t{name}\tNORMAL".encode())


# --------------------------------------------------------------------------------------------


def test_live_upload(live: LiveServer) -> None:
    r = httpx.post(f"{live.url}/v1/annotate", files={"file": ("run1.vcf", RUN1.read_bytes())})
    assert r.status_code == 200
    doc = r.json()
    (tp53,) = [
        v for s in doc["samples"] if s["sample"] == "PATIENT_B" for v in s["variants"]
        if v["gene"] == "TP53"
    ]  # fmt: skip
    assert tp53["hgvs_p"] == "NP_000537.3:p.(Arg175His)" and tp53["source"] == "run1.vcf"
    metrics = httpx.get(f"{live.url}/metrics").text
    assert (
        'varannot_http_requests_total{method="POST",route="/v1/annotate",status="200"}' in metrics
    )


@pytest.mark.parametrize(
    "path, limit",
    [
        ("/v1/annotate", b"104857600 bytes (100.0 MiB); submit large inputs to POST /v1/jobs"),
        ("/v1/jobs", b"1073741824 bytes (1.0 GiB)"),
    ],
)
def test_declared_oversize_body_is_refused_before_it_is_sent(
    live: LiveServer, path: str, limit: bytes
) -> None:
    with socket.create_connection((HOST, live.port), timeout=10) as s:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
            "boundary=b\r\nContent-Length: 5000000000000\r\n\r\n".encode()
        )
        head = read_response(s)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"the upload exceeds the limit of " + limit in head


def test_stalled_body_times_out(live: LiveServer) -> None:
    with socket.create_connection((HOST, live.port), timeout=10) as s:
        s.sendall(
            b"POST /v1/annotate HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
            b"boundary=b\r\nContent-Length: 1000\r\n\r\n--b\r\n"
        )
        head = read_response(s)  # the server gives up after VARANNOT_BODY_TIMEOUT=1 s
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert b"no data received for 1 s while reading the request body" in head


def test_forwarded_for_is_believed_only_from_configured_proxies(
    kb_fasta: dict[str, Path], tmp_path: Path
) -> None:
    """#13: a made-up X-Forwarded-For used to give every request a fresh rate-limit bucket."""
    limit = {"VARANNOT_RATE_LIMIT": "0.001", "VARANNOT_RATE_BURST": "1"}

    def statuses(server: LiveServer, forwarded: list[str]) -> list[int]:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            return [
                c.get("/v1/knowledge-base", headers={"X-Forwarded-For": ip}).status_code
                for ip in forwarded
            ]

    plain = LiveServer(kb_fasta["GRCh38"], tmp_path / "a" / "data", env=limit)
    try:  # the header is ignored: one client, one bucket
        assert statuses(plain, ["10.0.0.1", "10.0.0.2"]) == [200, 429]
    finally:
        plain.stop()
    proxied = LiveServer(
        kb_fasta["GRCh38"], tmp_path / "b" / "data",
        env=limit | {"VARANNOT_FORWARDED_ALLOW_IPS": HOST},
    )  # fmt: skip
    try:  # behind a configured proxy: one bucket per forwarded client
        assert statuses(proxied, ["10.0.0.1", "10.0.0.2", "10.0.0.1"]) == [200, 200, 429]
    finally:
        proxied.stop()


def test_trickled_body_meets_the_deadline_and_hang_up_is_a_499_line(
    kb_fasta: dict[str, Path], tmp_path: Path
) -> None:
    """#13: one byte every 0.5 s beat the idle timeout for ever; a client hanging up mid-body
    was an HTTP 500 with two tracebacks in the log."""
    env = {"VARANNOT_BODY_TIMEOUT": "10", "VARANNOT_BODY_DEADLINE": "3"}
    server = LiveServer(kb_fasta["GRCh38"], tmp_path / "data", env=env)
    head = b"POST /v1/annotate HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
    try:
        with socket.create_connection((HOST, server.port), timeout=30) as s:
            s.sendall(head + b"boundary=b\r\nContent-Length: 1000\r\n\r\n--b\r\n")
            s.settimeout(0.5)
            response = b""
            for _ in range(60):  # at most 30 s of trickle; the server stops it after 3
                try:
                    s.sendall(b"x")
                    response += s.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if response:
                    break
            s.settimeout(10)
            while b"}" not in response and (more := s.recv(65536)):
                response += more  # the rest of the problem document
        assert response.startswith(b"HTTP/1.1 408 "), response
        assert b"the request body took longer than 3 s" in response
        with socket.create_connection((HOST, server.port), timeout=30) as s:
            s.sendall(head + b"boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n")
            s.sendall(b'Content-Disposition: form-data; name="file"; filename="a.vcf"\r\n\r\n')
            s.sendall(b"##fileformat=VCFv4.2\n" * 50)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b"499 client closed" not in server.log.read_bytes():
            time.sleep(0.1)
    finally:
        server.stop()
    log = server.log.read_text()
    assert "499 client closed the connection after " in log
    assert " bytes of the body of POST /v1/annotate" in log
    assert "Traceback" not in log and "Exception in ASGI application" not in log
    assert not list((tmp_path / "data" / "uploads").iterdir())


def test_fifty_concurrent_job_uploads_are_all_accounted_for(
    kb_fasta: dict[str, Path], tmp_path: Path
) -> None:
    server = LiveServer(kb_fasta["GRCh38"], tmp_path / "data", workers=2)
    try:
        names = [f"S{i:02d}" for i in range(50)]

        def submit(name: str) -> tuple[str, int, str]:
            with httpx.Client(base_url=server.url, timeout=60) as c:
                r = c.post(
                    "/v1/jobs",
                    files={"file": (f"{name}.vcf", sample_vcf(name))},
                    headers={"Idempotency-Key": f"batch-1-{name}"},
                )
                return name, r.status_code, r.json()["id"]

        with ThreadPoolExecutor(50) as pool:
            submitted = list(pool.map(submit, names))
        assert [s for _, s, _ in submitted] == [202] * 50
        ids = {name: job_id for name, _, job_id in submitted}
        assert len(set(ids.values())) == 50
        done = wait_jobs(server.url, list(ids.values()), timeout=60)
        assert len(done) == 50
        for name, job_id in ids.items():
            j = done[job_id]
            assert (j["status"], j["inputs"]) == ("finished", [f"{name}.vcf"]), j.get("error")
            assert [s["sample"] for s in j["result"]["samples"]] == [name, "NORMAL"]
        # a pipeline retrying one upload gets its first job back
        with httpx.Client(base_url=server.url, timeout=30) as c:
            again = c.post(
                "/v1/jobs",
                files={"file": ("S07.vcf", sample_vcf("S07"))},
                headers={"Idempotency-Key": "batch-1-S07"},
            )
            assert again.json()["id"] == ids["S07"]
            metrics = c.get("/metrics").text
        assert 'varannot_jobs{status="finished"} 50.0' in metrics
        assert 'varannot_jobs{status="failed"} 0.0' in metrics
    finally:
        server.stop()


def big_vcf(path: Path, fasta: Path, n: int) -> Path:
    """``n`` SNVs across TP53 (REF from the reference) for one sample: a job of a few seconds."""
    ref = FastaReference(fasta, "GRCh38")
    lo = 7669000
    seq = ref.fetch("chr17", lo, lo + 18_000)
    with path.open("w") as fh:
        fh.write(
            "##fileformat=VCFv4.2\n##contig=<ID=chr17,length=83257441>\n"
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">\n'
            '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="AD">\n'
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tBIG\n"
        )
        for i in range(n):
            off = (i * 7) % 18_000
            r = seq[off]
            alt = "ACGT"[("ACGT".index(r) + 1 + i % 3) % 4]
            fh.write(
                f"chr17\t{lo + off}\t.\t{r}\t{alt}\t50\tPASS\t.\tGT:AD\t0/1:50,{10 + i % 40}\n"
            )
    return path


def test_killed_mid_job_then_restarted_the_job_finishes(
    kb_fasta: dict[str, Path], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    n = 25_000
    vcf = big_vcf(tmp_path / "big.vcf", kb_fasta["GRCh38"], n)
    first = LiveServer(kb_fasta["GRCh38"], data)
    try:
        r = httpx.post(
            f"{first.url}/v1/jobs", files={"file": ("big.vcf", vcf.read_bytes())}, timeout=60
        )
        assert r.status_code == 202
        job_id = r.json()["id"]
        deadline = time.monotonic() + 30
        status = "queued"
        while status != "running" and time.monotonic() < deadline:
            status = httpx.get(f"{first.url}/v1/jobs/{job_id}").json()["status"]
            time.sleep(0.02)
        assert status == "running"
    finally:
        first.kill()  # SIGKILL: no shutdown hook runs, the row stays 'running'
    assert (data / "jobs" / job_id).is_dir()  # the input survived the crash
    second = LiveServer(kb_fasta["GRCh38"], data)
    try:
        done = wait_jobs(second.url, [job_id], timeout=60)[job_id]
        assert done["status"] == "finished", done.get("error")
        assert done["attempts"] == 2
        assert done["note"].startswith("requeued: the server (")
        assert done["note"].endswith("stopped during attempt 1 of 2")
        (sample,) = done["result"]["samples"]
        assert sample["sample"] == "BIG" and len(sample["variants"]) == n
        assert done["result"]["inputs"][0]["records_read"] == n
        assert not (data / "jobs" / job_id).exists()
    finally:
        second.stop()


def test_sigterm_during_a_synchronous_request_is_a_503_and_cleans_up(
    kb_fasta: dict[str, Path], tmp_path: Path
) -> None:
    """#13: the request cut off by shutdown was a plain-text 500 and left its upload behind.

    150,000 SNVs take far longer than the 5 s uvicorn waits (grace 0 + 5) on any machine.
    """
    data = tmp_path / "data"
    vcf = big_vcf(tmp_path / "big.vcf", kb_fasta["GRCh38"], 150_000)
    server = LiveServer(kb_fasta["GRCh38"], data, env={"VARANNOT_SHUTDOWN_GRACE": "0"})
    result: dict[str, httpx.Response] = {}

    def post() -> None:
        result["r"] = httpx.post(
            f"{server.url}/v1/annotate", files={"file": ("big.vcf", vcf.read_bytes())},
            timeout=120,
        )  # fmt: skip

    t = threading.Thread(target=post)
    t.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((data / "uploads").glob("*/*")):
            time.sleep(0.05)  # the upload is staged: the request is in the pool
        time.sleep(0.5)
    finally:
        server.stop()  # SIGTERM
    t.join(60)
    r = result["r"]
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Service unavailable"
    assert not list((data / "uploads").iterdir())


def test_graceful_stop_hands_the_running_job_back(
    kb_fasta: dict[str, Path], tmp_path: Path
) -> None:
    """SIGTERM (docker stop): a job that cannot finish within the grace period goes back to the
    queue without using up an attempt."""
    from varannot.service.jobs import JobStore, database_url

    data = tmp_path / "data"
    vcf = big_vcf(tmp_path / "big.vcf", kb_fasta["GRCh38"], 25_000)
    server = LiveServer(kb_fasta["GRCh38"], data, env={"VARANNOT_SHUTDOWN_GRACE": "0"})
    try:
        job_id = httpx.post(
            f"{server.url}/v1/jobs", files={"file": ("big.vcf", vcf.read_bytes())}, timeout=60
        ).json()["id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if httpx.get(f"{server.url}/v1/jobs/{job_id}").json()["status"] == "running":
                break
            time.sleep(0.02)
    finally:
        server.stop()  # SIGTERM
    # uvicorn re-raises the signal after its clean shutdown, hence -SIGTERM
    assert server.proc.returncode == -signal.SIGTERM
    assert "Application shutdown complete" in server.log.read_text()
    job = JobStore(database_url(os.environ.get("DATABASE_URL"), data)).get(job_id)
    assert job is not None
    assert (job.status, job.attempts, job.note) == ("queued", 0, "requeued: the server shut down")
    assert (data / "jobs" / job_id).is_dir()


# --------------------------------------------------------------------------------------------
# schemathesis: every operation of the served OpenAPI document, bounded examples


# schemathesis' own pytest loader (from_fixture) does not run on pytest 9, so each operation's
# strategy is driven by hypothesis directly; this list is checked against the served document
OPERATIONS = [
    "POST /v1/annotate", "POST /v1/jobs", "GET /v1/jobs/{job_id}", "GET /v1/jobs/{job_id}/result",
    "GET /v1/knowledge-base", "GET /v1/transcripts", "GET /healthz", "GET /readyz",
    "GET /metrics", "POST /v1/render/{name}",
]  # fmt: skip


def _schemathesis() -> Any:
    """schemathesis is a test dependency: required in CI, skipped without it elsewhere."""
    if os.environ.get("CI") == "true":
        import schemathesis

        return schemathesis
    return pytest.importorskip("schemathesis")


@pytest.fixture(scope="module")
def api_schema(live: LiveServer) -> Any:
    schema = _schemathesis().openapi.from_url(f"{live.url}/openapi.json")
    served = {r.ok().label for r in schema.get_all_operations()}
    assert served == set(OPERATIONS)
    return schema


@pytest.mark.parametrize("label", OPERATIONS)
def test_openapi_conformance(api_schema: Any, label: str) -> None:
    """At most 20 positive and negative examples per operation: no 500s, and status codes,
    content types and bodies (problem documents included) as the OpenAPI document says."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode, checks

    (op,) = [r.ok() for r in api_schema.get_all_operations() if r.ok().label == label]
    strategy = st.one_of(
        op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)
    )

    @given(case=strategy)
    @settings(
        max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            checks=[
                checks.not_a_server_error,
                checks.status_code_conformance,
                checks.content_type_conformance,
                checks.response_schema_conformance,
            ],
            timeout=30,
        )

    run()
