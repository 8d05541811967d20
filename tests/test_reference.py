"""Reference sequence: FASTA flavours, contig aliases, build checks, and ``reference fetch``
against a local E-utilities stand-in on 127.0.0.1 serving sequence from ../shared."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from shared_mirror import build_mirror

from varannot.annotate import Annotator
from varannot.errors import BuildMismatchError, ReferenceError_
from varannot.fetch import FileMirror, fetch_reference
from varannot.genome import canonical_chrom, detect_build, refseq_accession
from varannot.reference import FastaReference


def test_contig_names() -> None:
    assert (
        canonical_chrom("17")
        == canonical_chrom("chr17")
        == canonical_chrom("NC_000017.11")
        == "chr17"
    )
    assert canonical_chrom("NC_000017.10") == "chr17"
    assert canonical_chrom("MT") == "chrM"
    assert refseq_accession("chr11", "GRCh37") == "NC_000011.9"
    assert detect_build({"17": 83257441}) == "GRCh38"
    assert detect_build({"chr17": 81195210, "chr1": 249250621}) == "GRCh37"
    assert detect_build({"chr17": 123}) is None


def _whole_contig_fasta(path: Path, name: str, length: int, seq_at: dict[int, str]) -> Path:
    """A FASTA with one full-length contig (N except where given) so lengths imply a build."""
    s = bytearray(b"N" * length)
    for pos, bases in seq_at.items():
        s[pos - 1 : pos - 1 + len(bases)] = bases.encode()
    with path.open("wb") as fh:
        fh.write(f">{name}\n".encode())
        for i in range(0, length, 1_000_000):
            fh.write(bytes(s[i : i + 1_000_000]) + b"\n")
    return path


def test_region_fasta_reads_and_fills_unknown(real_fasta: dict[str, Path]) -> None:
    ref = FastaReference(real_fasta["GRCh38"])
    assert ref.fetch("17", 7675088, 7675088) == "C"
    assert ref.fetch("NC_000017.11", 7675087, 7675089) == "GCG"
    # BAX intron 4 is not in the shared data: N, not an error
    assert ref.fetch("chr19", 48957000, 48957004) == "NNNNN"
    assert ref.has_contig("chr18") and not ref.has_contig("chr1")


def test_whole_contig_fasta_build_detection(tmp_path: Path) -> None:
    f = _whole_contig_fasta(tmp_path / "g.fa", "17", 83257441, {7675088: "C"})
    ref = FastaReference(f)
    assert ref.build == "GRCh38"
    assert ref.fetch("chr17", 7675088, 7675088) == "C"
    with pytest.raises(BuildMismatchError, match="looks like GRCh38"):
        FastaReference(f, "GRCh37")


def test_bad_fastas(tmp_path: Path) -> None:
    with pytest.raises(ReferenceError_, match="not found"):
        FastaReference(tmp_path / "missing.fa")
    bad = tmp_path / "bad.fa"
    bad.write_text("hello\n")
    with pytest.raises(ReferenceError_, match="not a FASTA"):
        FastaReference(bad)
    gz = tmp_path / "plain.fa.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(">chr17:1-4\nACGT\n")
    with pytest.raises(ReferenceError_, match="bgzip"):
        FastaReference(gz)
    wrong = tmp_path / "wrong.fa"
    wrong.write_text(">chr17:1-10\nACGT\n")
    with pytest.raises(ReferenceError_, match="its name says 10"):
        FastaReference(wrong)


def test_unknown_build(real_fasta: dict[str, Path]) -> None:
    with pytest.raises(ReferenceError_, match="unknown build 'hg19'"):
        Annotator(FastaReference(real_fasta["GRCh38"]), "hg19")  # type: ignore[arg-type]


def test_reference_check_models(real_fasta: dict[str, Path]) -> None:
    """TP53 and BAX are complete in the shared data: start/stop/no internal stop all hold."""
    a = Annotator(FastaReference(real_fasta["GRCh38"]), "GRCh38")
    assert a.model_problems == []
    assert a.contexts["NM_000546.6"].protein.startswith("MEEPQSDPSV")
    assert len(a.contexts["NM_000546.6"].protein) == 394
    assert (
        a.contexts["NM_138761.4"].protein.endswith("*")
        and len(a.contexts["NM_138761.4"].protein) == 193
    )
    assert a.contexts["NM_000633.3"].protein[100] == "G"  # BCL2 G101


# --- reference fetch ------------------------------------------------------------------------
class _EUtils(BaseHTTPRequestHandler):
    """Answers efetch.fcgi like NCBI, from a mirror built out of ../shared."""

    mirror: FileMirror
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        type(self).requests.append(self.path)
        if url.path.endswith("/efetch.fcgi") and q.get("db") == "nuccore":
            seq = self.mirror.efetch(q["id"], int(q["seq_start"]), int(q["seq_stop"]))
            body = f">{q['id']}:{q['seq_start']}-{q['seq_stop']} test mirror\n"
            body += "\n".join(seq[i : i + 70] for i in range(0, len(seq), 70)) + "\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(body.encode())
        else:
            self.send_response(400)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def eutils(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    mirror = build_mirror(shared, tmp_path_factory.mktemp("mirror"))
    _EUtils.mirror = FileMirror(mirror)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EUtils)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/entrez/eutils"
    server.shutdown()


@pytest.mark.parametrize("build", ["GRCh38", "GRCh37"])
def test_fetch_over_http(eutils: str, tmp_path: Path, build: str) -> None:
    fasta = fetch_reference(build, tmp_path, eutils)  # type: ignore[arg-type]
    manifest = json.loads((tmp_path / f"{build}.manifest.json").read_text())
    assert manifest["build"] == build
    assert manifest["sha256"] == hashlib.sha256(fasta.read_bytes()).hexdigest()
    assert sorted(r["gene"] for r in manifest["regions"]) == ["BAX", "BCL2", "MEN1", "TP53"]
    assert any("db=nuccore" in r and "NC_000017" in r for r in _EUtils.requests)
    ref = FastaReference(fasta)
    assert ref.build == build  # from the manifest
    pos = 7675088 if build == "GRCh38" else 7578406
    assert ref.fetch("chr17", pos, pos) == "C"
    a = Annotator(ref, build)  # type: ignore[arg-type]
    r = a.annotate("17", pos, "C", "T")
    assert r.annotation is not None and r.annotation.hgvs_p == "NP_000537.3:p.(Arg175His)"
    tp53 = next(r for r in manifest["regions"] if r["gene"] == "TP53")
    assert tp53["unknown_bases"] == 0


def test_fetch_from_file_mirror(shared: Path, tmp_path: Path) -> None:
    mirror = build_mirror(shared, tmp_path / "m")
    fasta = fetch_reference("GRCh38", tmp_path / "ref", f"file://{mirror}")
    assert FastaReference(fasta).fetch("chr18", 63318365, 63318365) == "C"  # BCL2 c.302


def test_fetch_unreachable_server(tmp_path: Path) -> None:
    with pytest.raises(ReferenceError_, match="download failed"):
        fetch_reference("GRCh38", tmp_path, "http://127.0.0.1:9/none")


def test_contig_the_fasta_lacks_is_flagged(tmp_path: Path, real_fasta: dict[str, Path]) -> None:
    only_tp53 = tmp_path / "tp53.fa"
    keep = False
    with only_tp53.open("w") as out:
        for line in real_fasta["GRCh38"].read_text().splitlines():
            if line.startswith(">"):
                keep = line.startswith(">chr17:")
            if keep:
                out.write(line + "\n")
    a = Annotator(FastaReference(only_tp53), "GRCh38")
    assert any("no sequence for chr18 (BCL2)" in p for p in a.model_problems)
    r = a.annotate("chr18", 63318365, "C", "A")
    assert r.flags == ["contig_not_in_fasta", "ref_unverified"]
    assert r.annotation is not None and r.annotation.hgvs_c == "NM_000633.3:c.302G>T"
    assert a.annotate("chr17", 7675088, "C", "T").flags == []
