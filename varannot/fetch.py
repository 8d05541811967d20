"""``varannot reference fetch``: download the four gene regions from NCBI E-utilities.

Writes a region FASTA (records named ``chr17:START-END`` as ``samtools faidx`` does) and a
manifest with checksums, so a lab without a whole-genome FASTA at hand can still annotate.
The base URL is configurable (``--base-url`` or ``VARANNOT_EUTILS_URL``): an ``http(s)://``
mirror answering ``efetch.fcgi`` queries, or ``file:///path/mirror.fa`` — a FASTA whose
records are named ``ACCESSION:START-END`` — for sites (and tests) with no internet.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import time
from pathlib import Path

from . import __version__
from .errors import ReferenceError_
from .genome import refseq_accession
from .models import Build
from .transcripts import load_transcripts

NCBI_EUTILS = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
ENV_URL = "VARANNOT_EUTILS_URL"


def base_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get(ENV_URL) or NCBI_EUTILS


def _parse_fasta(text: str, source: str) -> str:
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith(">"):
        raise ReferenceError_(f"the server did not answer with FASTA: {text[:80]!r}", source=source)
    return "".join(ln.strip() for ln in lines[1:]).upper()


class FileMirror:
    """A local FASTA of ``ACCESSION:START-END`` records answering efetch-style requests."""

    def __init__(self, path: Path):
        self.path = path
        self.records: dict[str, list[tuple[int, str]]] = {}
        if not path.exists():
            raise ReferenceError_("mirror file not found", source=str(path))
        name: str | None = None
        parts: list[str] = []

        def flush() -> None:
            if name is None:
                return
            acc, _, rng = name.partition(":")
            start = int(rng.split("-")[0]) if rng else 1
            self.records.setdefault(acc, []).append((start, "".join(parts).upper()))

        with path.open() as fh:
            for line in fh:
                if line.startswith(">"):
                    flush()
                    name, parts = line[1:].split()[0], []
                else:
                    parts.append(line.strip())
        flush()

    def efetch(self, accession: str, start: int, end: int) -> str:
        if accession not in self.records:
            raise ReferenceError_(f"mirror has no sequence for {accession}", source=str(self.path))
        out = ["N"] * (end - start + 1)
        for rs, seq in self.records[accession]:
            a, b = max(start, rs), min(end, rs + len(seq) - 1)
            if a <= b:
                out[a - start : b - start + 1] = seq[a - rs : b - rs + 1]
        return "".join(out)


def efetch(base: str, accession: str, start: int, end: int, retries: int = 3) -> str:
    """Plus-strand sequence of accession:start-end (1-based inclusive)."""
    import urllib.error  # here, not at module level: every FASTA open imports this module
    import urllib.parse
    import urllib.request

    if base.startswith("file://"):
        return FileMirror(Path(urllib.parse.urlparse(base).path)).efetch(accession, start, end)
    query = {
        "db": "nuccore",
        "id": accession,
        "rettype": "fasta",
        "retmode": "text",
        "seq_start": str(start),
        "seq_stop": str(end),
        "strand": "1",
        "tool": "varannot",
    }
    if os.environ.get("NCBI_API_KEY"):
        query["api_key"] = os.environ["NCBI_API_KEY"]
    url = f"{base.rstrip('/')}/efetch.fcgi?{urllib.parse.urlencode(query)}"
    last: Exception | None = None
    for attempt in range(retries):
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - configured URL
                text = resp.read().decode("ascii", "replace")
            seq = _parse_fasta(text, url)
            if len(seq) != end - start + 1:
                raise ReferenceError_(
                    f"expected {end - start + 1} bp for {accession}:{start}-{end}, got {len(seq)}",
                    source=url,
                )
            return seq
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = exc
            time.sleep(0.5 * (attempt + 1))
    raise ReferenceError_(f"download failed after {retries} tries: {last}", source=url)


def fetch_reference(build: Build, out_dir: Path, url: str | None = None) -> Path:
    """Write ``{build}.regions.fa`` (+ ``.fai``) and ``{build}.manifest.json`` into ``out_dir``.

    Both are written to temporary names and renamed when complete: a download that fails
    leaves no FASTA (an empty or partial one would later look like a reference full of N).
    """
    ts = load_transcripts(build)
    base = base_url(url)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReferenceError_(
            f"cannot create the output directory: {exc.strerror}", source=str(out_dir)
        ) from exc
    fasta = out_dir / f"{build}.regions.fa"
    manifest_path = out_dir / f"{build}.manifest.json"
    tmp = out_dir / f".{fasta.name}.tmp"
    regions = []
    try:
        with tmp.open("w") as fh:
            for gene, chrom, start, end in sorted(ts.gene_regions(), key=lambda r: (r[1], r[2])):
                acc = refseq_accession(chrom, build)
                seq = efetch(base, acc, start, end)
                name = f"{chrom}:{start}-{end}"
                fh.write(f">{name} {gene} {acc}:{start}-{end} {build}\n")
                for i in range(0, len(seq), 60):
                    fh.write(seq[i : i + 60] + "\n")
                regions.append(
                    {
                        "gene": gene,
                        "record": name,
                        "accession": acc,
                        "start": start,
                        "end": end,
                        "length": len(seq),
                        "unknown_bases": seq.count("N"),
                        "sha256": hashlib.sha256(seq.encode()).hexdigest(),
                    }
                )
        manifest = {
            "build": build,
            "fasta": fasta.name,
            "sha256": hashlib.sha256(tmp.read_bytes()).hexdigest(),
            "source": base if not base.startswith("file://") else "local mirror " + base,
            "fetched": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "varannot_version": __version__,
            "regions": regions,
        }
        tmp_manifest = out_dir / f".{manifest_path.name}.tmp"
        tmp_manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    Path(str(fasta) + ".fai").unlink(missing_ok=True)  # an old index would not fit
    os.replace(tmp, fasta)
    os.replace(tmp_manifest, manifest_path)
    try:
        import pysam

        pysam.faidx(str(fasta))
    except Exception:  # noqa: BLE001 - the index is a convenience; reading works without
        pass
    return fasta


def manifest_build(fasta: Path) -> Build | None:
    """The build a fetched region FASTA was made for (from its manifest), if any."""
    for cand in (fasta.parent / f"{fasta.name.split('.')[0]}.manifest.json",):
        if cand.exists():
            try:
                data = json.loads(cand.read_text())
            except json.JSONDecodeError:
                return None
            b = data.get("build")
            if b in ("GRCh38", "GRCh37") and data.get("fasta") == fasta.name:
                return b  # type: ignore[no-any-return]
    return None
