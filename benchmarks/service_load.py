"""HTTP service load: requests/s and latency of single-sample VCF annotation, and server memory
during a large streamed upload.

Targets: >= 200 requests/s on 2 cores; p99 < 100 ms at 8 concurrent clients; server memory flat
with upload size (a 1 GB upload must not grow the server by anything like 1 GB).

Loopback only: the script starts ``varannot serve`` on 127.0.0.1 (a free port, a temporary data
directory, a region FASTA built from ../shared), drives it with a minimal asyncio HTTP/1.1 client
(keep-alive, so the figures measure the server, not client overhead), and stops it. Every loop
is bounded by a request count and a time limit.

Usage: python benchmarks/service_load.py [--seconds 5] [--clients 1,8,32] [--upload-mb 1000]
       [--skip-upload] [--fasta REF.fa --build GRCh38]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

HOST = "127.0.0.1"
BOUNDARY = "varannot-bench-boundary"
SAMPLE_VCF = b"""##fileformat=VCFv4.2
##contig=<ID=chr17,length=83257441>
##contig=<ID=chr18,length=80373285>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tPATIENT
chr17\t7675088\t.\tC\tT\t99\tPASS\t.\tGT:AD:DP\t0/1:61,59:120
chr18\t63318365\t.\tC\tA\t70\tPASS\t.\tGT:AD:DP\t0/1:490,10:500
chr20\t1000000\t.\tA\tG\t50\tPASS\t.\tGT:AD:DP\t0/1:20,20:40
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def build_reference(out: Path) -> tuple[Path, str]:
    """A GRCh38 region FASTA with the real sequence from ../shared (+ synthetic MEN1)."""
    from shared_mirror import grch38_segments
    from synthetic import synthetic_men1, write_fasta

    shared = ROOT.parent / "shared"
    if not shared.is_dir():
        sys.exit("../shared is missing: pass --fasta and --build")
    recs = [r for r in grch38_segments(shared) if r[0] != "chr11"]
    recs.append(synthetic_men1(shared, "GRCh38"))
    return write_fasta(out / "GRCh38.bench.fa", recs, "benchmark"), "GRCh38"


class Server:
    """``varannot serve`` in a child process (the same entry point users run)."""

    def __init__(self, fasta: Path, build: str, data_dir: Path, env: dict[str, str]):
        self.port = free_port()
        cmd = [
            sys.executable, "-m", "varannot.cli", "serve", "--fasta", str(fasta), "--build",
            build, "--host", HOST, "--port", str(self.port), "--data-dir", str(data_dir),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                sys.exit(f"server exited: {err[-2000:]}")
            try:
                status, _ = asyncio.run(request_once(self.port, "GET", "/readyz"))
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        sys.exit("server did not become ready in 60 s")

    def rss_kib(self) -> tuple[int, int]:
        """(current RSS, peak RSS) of the server process in KiB, from /proc."""
        cur = peak = 0
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    cur = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1])
        return cur, peak

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- a minimal HTTP/1.1 client ---------------------------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v)
    body = await reader.readexactly(length) if length else b""
    return status, body


def multipart_request(path: str, filename: str, content: bytes) -> bytes:
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: multipart/form-data; "
        f"boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def request_once(port: int, method: str, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        await writer.drain()
        return await read_response(reader)
    finally:
        writer.close()


async def load(port: int, clients: int, seconds: float, max_requests: int) -> dict[str, float]:
    """``clients`` keep-alive connections posting the sample VCF until time or count runs out."""
    payload = multipart_request("/v1/annotate", "sample.vcf", SAMPLE_VCF)
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    budget = [max_requests]

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.perf_counter() < deadline and budget[0] > 0:
                budget[0] -= 1
                t0 = time.perf_counter()
                writer.write(payload)
                await writer.drain()
                status, body = await read_response(reader)
                latencies.append(time.perf_counter() - t0)
                if status != 200 or b'"samples"' not in body:
                    errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(latencies) * 1000,
    }


# --- the large upload ------------------------------------------------------------------------

_HEADER = b"##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def _line(i: int) -> bytes:
    # fixed width, outside the four genes: exercises streaming and reading, not annotation
    return b"chr1\t%09d\t.\tA\tG\t50\tPASS\t.\n" % (1_000_000 + i % 200_000_000)


def vcf_stream(target_bytes: int) -> tuple[int, Iterator[bytes]]:
    """(exact size, chunks) of a VCF of about ``target_bytes``, generated as it is sent."""
    width = len(_line(0))
    n = max(1, (target_bytes - len(_HEADER)) // width)

    def chunks() -> Iterator[bytes]:
        yield _HEADER
        step = 20_000
        for start in range(0, n, step):
            yield b"".join(_line(i) for i in range(start, min(n, start + step)))

    return len(_HEADER) + n * width, chunks()


def upload(port: int, server: Server, size: int, timeout: float) -> dict[str, Any]:
    """Stream a ``size``-byte VCF to POST /v1/jobs while sampling the server's memory."""
    vcf_size, chunks = vcf_stream(size)
    pre = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.vcf"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    post = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(pre) + vcf_size + len(post)
    base_rss, _ = server.rss_kib()
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            samples.append(server.rss_kib()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(
            f"POST /v1/jobs HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: multipart/form-data; "
            f"boundary={BOUNDARY}\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        sock.sendall(pre)
        for c in chunks:
            sock.sendall(c)
        sock.sendall(post)
        resp = b""
        while b"\r\n\r\n" not in resp:
            part = sock.recv(65536)
            if not part:
                break
            resp += part
        head, _, body = resp.partition(b"\r\n\r\n")
        resp_len = 0
        for line in head.split(b"\r\n")[1:]:
            if line.lower().startswith(b"content-length:"):
                resp_len = int(line.split(b":", 1)[1])
        while len(body) < resp_len:
            part = sock.recv(65536)
            if not part:
                break
            body += part
        resp = head + b"\r\n\r\n" + body
    upload_s = time.perf_counter() - t0
    stop.set()
    sampler.join()
    status = int(resp.split(b" ", 2)[1]) if resp else 0
    peak = max(samples or [base_rss])
    job_id = ""
    if b'"id": "' in resp:
        job_id = resp.split(b'"id": "', 1)[1].split(b'"', 1)[0].decode()
    return {
        "job_id": job_id,
        "bytes": length,
        "status": status,
        "seconds": upload_s,
        "mb_per_s": length / upload_s / 1e6,
        "rss_before_mib": base_rss / 1024,
        "rss_peak_mib": peak / 1024,
        "rss_growth_mib": (peak - base_rss) / 1024,
    }


def wait_job(port: int, server: Server, job_id: str, timeout: float) -> dict[str, Any]:
    """Poll a job to its end while sampling server memory (reading the big VCF streams too)."""
    import json

    t0 = time.perf_counter()
    peak = 0
    status = "?"
    while time.perf_counter() - t0 < timeout:
        peak = max(peak, server.rss_kib()[0])
        code, body = asyncio.run(request_once(port, "GET", f"/v1/jobs/{job_id}"))
        if code == 200:
            j = json.loads(body)
            status = j["status"]
            if status in ("finished", "failed"):
                break
        time.sleep(0.25)
    return {"status": status, "seconds": time.perf_counter() - t0, "rss_peak_mib": peak / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fasta", type=Path)
    ap.add_argument("--build", default="GRCh38")
    ap.add_argument("--seconds", type=float, default=5.0, help="per concurrency level")
    ap.add_argument("--max-requests", type=int, default=20_000, help="per concurrency level")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--upload-mb", type=float, default=1000.0, help="large upload size (MB)")
    ap.add_argument("--small-upload-mb", type=float, default=100.0, help="for comparison")
    ap.add_argument("--skip-upload", action="store_true")
    ap.add_argument(
        "--process-upload", action="store_true", help="also wait for the large upload's job"
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="varannot-bench-") as tmp:
        tmpdir = Path(tmp)
        fasta, build = (args.fasta, args.build) if args.fasta else build_reference(tmpdir)
        env = {
            "VARANNOT_ACCESS_LOG": "0",
            "VARANNOT_MAX_UPLOAD_BYTES": str(4 * 10**9),
            # the bench's big upload is not what the job worker should spend the run on
        }
        server = Server(fasta, build, tmpdir / "data", env)
        try:
            print(f"server pid {server.proc.pid} on {HOST}:{server.port}, {os.cpu_count()} cores")
            asyncio.run(load(server.port, 4, 1.0, 500))  # warm-up
            print("clients  requests  errors  req/s    p50 ms  p99 ms  mean ms")
            for n in (int(x) for x in args.clients.split(",")):
                r = asyncio.run(load(server.port, n, args.seconds, args.max_requests))
                print(
                    f"{n:>7}  {r['requests']:>8}  {r['errors']:>6}  {r['rps']:>7.1f}  "
                    f"{r['p50_ms']:>6.1f}  {r['p99_ms']:>6.1f}  {r['mean_ms']:>7.1f}"
                )
            if not args.skip_upload:
                for mb in (args.small_upload_mb, args.upload_mb):
                    u = upload(server.port, server, int(mb * 1e6), timeout=600)
                    print(
                        f"upload {u['bytes'] / 1e6:.0f} MB -> HTTP {u['status']} in "
                        f"{u['seconds']:.1f} s ({u['mb_per_s']:.0f} MB/s); server RSS "
                        f"{u['rss_before_mib']:.0f} MiB before, {u['rss_peak_mib']:.0f} MiB "
                        f"peak (+{u['rss_growth_mib']:.0f} MiB)"
                    )
                if args.process_upload and u["job_id"]:
                    w = wait_job(server.port, server, u["job_id"], timeout=900)
                    print(
                        f"job reading the {u['bytes'] / 1e6:.0f} MB upload: {w['status']} in "
                        f"{w['seconds']:.0f} s; server RSS peak {w['rss_peak_mib']:.0f} MiB"
                    )
                _, hwm = server.rss_kib()
                print(f"server peak RSS over the whole run (VmHWM): {hwm / 1024:.0f} MiB")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
