"""Engines and running inputs: the blocking calls the routes and job workers make into the library.

:class:`EngineSet` builds one :class:`~varannot.api.Engine` per build at start-up; :func:`run_files`
sniffs the build of uploaded files and runs them through ``Engine.run`` exactly as the CLI does,
relabelling temporary paths with the client's file names; :func:`run_json` annotates a JSON
variant list (genomic, HGVS c./g. or protein-level) through the same list reader as the CLI's
``--hgvs`` (protein-level entries are pre-annotated observations). Everything here runs in a
thread pool or a job worker, never on the event loop.
"""

from __future__ import annotations

import gzip
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api import Engine, RunOptions
from ..errors import BuildMismatchError, VarannotError
from ..genome import accession_build, detect_build
from ..knowledge import KnowledgeBase
from ..models import Build, InputBatch
from ..readers.hgvs import HgvsListError, VariantEntry
from ..schema import ResultDocument
from .problems import ProblemError
from .schemas import AnnotateRequest, FileOptions, GenomicVariantIn, HgvsVariantIn
from .settings import MiB, ServiceSettings, log
from .uploads import StoredFile, _label_stem

# =============================================================================================
# Engines
# =============================================================================================


@dataclass
class EngineSet:
    """One ``Engine`` per build, built once at start-up and shared by all requests."""

    engines: dict[Build, Engine]
    default: Build
    kb: KnowledgeBase

    @classmethod
    def load(cls, settings: ServiceSettings) -> EngineSet:
        kb = KnowledgeBase.load(settings.kb, replace=settings.kb_replace)
        builds = settings.builds or []
        if builds and len(builds) != len(settings.fastas):
            raise VarannotError(
                f"{len(builds)} --build value(s) for {len(settings.fastas)} --fasta file(s): "
                "give one build per FASTA, in order, or none",
                source="service settings",
            )
        engines: dict[Build, Engine] = {}
        for i, fasta in enumerate(settings.fastas):
            engine = Engine(fasta, builds[i] if builds else None, kb)
            if engine.build in engines:
                raise VarannotError(
                    f"two FASTA files for {engine.build}: {engines[engine.build].reference.name} "
                    f"and {fasta}",
                    source="service settings",
                )
            engines[engine.build] = engine
            log.info("reference %s loaded for %s", fasta, engine.build)
        return cls(engines, next(iter(engines)), kb)

    def pick(self, build: Build | None, why: str = "", source: str = "request") -> Engine:
        """The engine of ``build`` (the default one when None), or a 422 naming what exists."""
        b = build or self.default
        engine = self.engines.get(b)
        if engine is None:
            raise ProblemError(
                422,
                "No reference for this build",
                f"this server has no reference for {b}{why}; it has "
                + ", ".join(self.engines)
                + " (name one with 'build' or convert the input)",
                source=source,
            )
        return engine


# =============================================================================================
# Running inputs (blocking: called in the thread pool or a job worker)
# =============================================================================================

_CONTIG = re.compile(rb"^##contig=<(?P<body>.*)>\s*$")
_REF38 = re.compile(r"GRCh38|hg38|\bb38\b|GCA_000001405\.15", re.IGNORECASE)
_REF37 = re.compile(r"GRCh37|hg19|\bb37\b|hs37d5|human_g1k_v37", re.IGNORECASE)


def sniff_vcf_build(path: Path, cap: int = 64 * MiB) -> tuple[Build | None, str | None]:
    """The build a VCF/BCF header implies (contig names/lengths, then ``##reference``).

    Only picks the engine; the reader still checks the header against that build.
    """
    try:
        with open(path, "rb") as probe:
            gz = probe.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gz else open(path, "rb") as fh:
            first = fh.read(5)
            if first[:3] == b"BCF":
                (n,) = struct.unpack("<I", fh.read(4))
                lines = fh.read(min(n, cap)).split(b"\n")
            else:
                lines, size, line = [], 0, first + fh.readline(MiB)
                while line.startswith(b"##") and size < cap:
                    lines.append(line)
                    size += len(line)
                    line = fh.readline(MiB)
    except (OSError, EOFError, zlib.error, struct.error):
        return None, None
    contigs: dict[str, int] = {}
    reference = None
    for text in lines:
        m = _CONTIG.match(text)
        if m:
            body = m["body"].decode("latin-1")
            cid = re.search(r"(?:^|,)ID=([^,]+)", body)
            length = re.search(r"(?:^|,)length=(\d+)", body)
            if cid:
                contigs[cid[1]] = int(length[1]) if length else 0
        elif text.startswith(b"##reference="):
            reference = text[12:].decode("latin-1").strip()
    build = detect_build(contigs)
    if build:
        return build, "contig names/lengths in the header"
    if reference:
        is38, is37 = bool(_REF38.search(reference)), bool(_REF37.search(reference))
        if is38 != is37:
            return ("GRCh38" if is38 else "GRCh37"), f"##reference={reference}"
    return None, None


def _relabel_error(exc: VarannotError, files: Sequence[StoredFile]) -> VarannotError:
    """Server paths in an error become the client's file names."""
    for f in files:
        for text in (str(f.path), f.path.name):
            if exc.source and text in exc.source:
                exc.source = exc.source.replace(text, f.display)
            exc.message = exc.message.replace(text, f.display)
    exc.args = (str(exc),)
    return exc


def _relabel_batch(batch: InputBatch, files: Sequence[StoredFile]) -> None:
    """The document names the client's files, never the server's paths."""
    names = {str(f.path): f.display for f in files}
    batch.source = ",".join(names.get(p, p) for p in batch.source.split(","))
    for ob in batch.observations:
        ob.source = names.get(ob.source, ob.source)
    if len(files) == 1 and (
        batch.details.get("sites_only") or batch.details.get("sample_from_file_name")
    ):
        old, new = _label_stem(files[0].path.name), _label_stem(files[0].display)
        batch.samples = [new if s == old else s for s in batch.samples]
        for ob in batch.observations:
            if ob.sample == old:
                ob.sample = new
        if old in batch.coverage:
            batch.coverage[new] = batch.coverage.pop(old)
    # Trace details (file names, paths, calls' records) are nested: relabel every string in them.
    pairs = sorted(
        [(str(f.path), f.display) for f in files] + [(f.path.name, f.display) for f in files],
        key=lambda pd: -len(pd[0]),
    )
    for ob in batch.observations:
        ob.record = _relabel_text(ob.record, pairs)
    batch.details = _relabel_value(batch.details, pairs)


def _relabel_text(text: str, pairs: Sequence[tuple[str, str]]) -> str:
    for p, d in pairs:
        text = text.replace(p, d)
    return text


def _relabel_value(value: Any, pairs: Sequence[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        return _relabel_text(value, pairs)
    if isinstance(value, list):
        return [_relabel_value(v, pairs) for v in value]
    if isinstance(value, dict):
        return {k: _relabel_value(v, pairs) for k, v in value.items()}
    return value


def _finish_document(doc: ResultDocument) -> ResultDocument:
    """Server file-system paths stay on the server: references and KB tables by base name."""
    if doc.reference:
        doc.reference = Path(doc.reference).name
    if doc.knowledge_base is not None:
        doc.knowledge_base.sources = [Path(s).name for s in doc.knowledge_base.sources]
    for s in doc.samples:
        for v in [*s.variants, *s.excluded_variants]:
            if "protein_level" in v.flags and not v.hgvs_c:
                v.hgvs_c = None
    return doc


def run_files(es: EngineSet, files: Sequence[StoredFile], opts: FileOptions) -> ResultDocument:
    """Uploaded VCF/BCF files and traces -> the document (as ``varannot annotate`` would)."""
    try:
        return _run_files(es, files, opts)
    except VarannotError as exc:
        raise _relabel_error(exc, files) from None


def files_engine(es: EngineSet, files: Sequence[StoredFile], opts: FileOptions) -> Engine:
    """The engine uploaded files need (build stated, else sniffed from VCF headers), or a 422.

    Also called when a job is submitted, so a job is refused for the same reasons as
    ``/v1/annotate`` instead of failing later.
    """
    detected: dict[Build, tuple[str, str]] = {}  # build -> (file, evidence)
    for f in (f for f in files if f.kind == "vcf"):  # BAM/CRAM: no header build sniffing
        b, why = sniff_vcf_build(f.path)
        if b is not None:
            detected.setdefault(b, (f.display, why or ""))
    if opts.build is None and len(detected) > 1:
        raise ProblemError(
            422,
            "Inputs of different builds",
            "; ".join(f"{f}: {b} ({why})" for b, (f, why) in detected.items())
            + ": send each build in its own request",
            source="request",
        )
    if opts.build is None and detected:
        build, (file, why) = next(iter(detected.items()))
        engine = es.pick(build, f" (detected from {why})", source=file)
    else:
        engine = es.pick(opts.build)
    return engine


def _run_files(es: EngineSet, files: Sequence[StoredFile], opts: FileOptions) -> ResultDocument:
    run_opts = opts.run_options()
    vcfs = [f for f in files if f.kind in ("vcf", "reads")]  # BAM/CRAM: Engine.read piles up
    traces = [f for f in files if f.kind == "trace"]
    engine = files_engine(es, files, opts)
    batches: list[InputBatch] = []
    for f in vcfs:
        try:
            batch = engine.read(f.path, run_opts)
        except BuildMismatchError as exc:
            if opts.build is not None:
                raise
            raise ProblemError(
                422,
                "No reference for this build",
                f"{_relabel_error(exc, files).message}: this server has references for "
                + ", ".join(es.engines)
                + "; name the build with 'build' if the header is wrong",
                source=f.display,
                record=exc.record,
            ) from None
        _relabel_batch(batch, [f])
        batches.append(batch)
    if traces:
        sample = opts.sample or _label_stem(traces[0].display)
        batch = engine.read_traces([t.path for t in traces], sample, run_opts)
        _relabel_batch(batch, traces)
        batches.append(batch)
    return _finish_document(engine.run(batches, run_opts))


def _json_build(req: AnnotateRequest) -> Build | None:
    """The build NC_ accessions in the request imply (None when silent)."""
    seen: set[Build] = set()
    for item in req.variants:
        name = (
            item.chrom
            if isinstance(item, GenomicVariantIn)
            else (item.hgvs if isinstance(item, HgvsVariantIn) else item).split(":", 1)[0]
        )
        b = accession_build(name.strip())
        if b:
            seen.add(b)
    if len(seen) > 1:
        raise ProblemError(
            422, "Inputs of different builds", "the variants name both GRCh37 and GRCh38 "
            "accessions: send each build in its own request", source="request",
        )  # fmt: skip
    return next(iter(seen), None)


def run_json(es: EngineSet, req: AnnotateRequest, max_variants: int) -> ResultDocument:
    """A JSON list of variants (genomic, g./c. HGVS or p. HGVS) -> the document."""
    engine, batch = read_json_variants(es, req, max_variants)
    opts = RunOptions(thresholds=req.thresholds(), disease=req.disease)
    return _finish_document(engine.run([batch], opts))


def read_json_variants(
    es: EngineSet, req: AnnotateRequest, max_variants: int
) -> tuple[Engine, InputBatch]:
    """The engine and the read list, or the problem ``/v1/annotate`` answers.

    Also run when a job is submitted, so a job is refused now rather than failed later.
    """
    if len(req.variants) > max_variants:
        raise ProblemError(
            413, "Too many variants", f"at most {max_variants} variants per request; use a VCF",
            source="request",
        )  # fmt: skip
    build = req.build or _json_build(req)
    engine = es.pick(build)
    entries: list[VariantEntry] = []
    for i, item in enumerate(req.variants):
        record = f"variants[{i}]"
        if isinstance(item, str):
            entries.append(VariantEntry(record, hgvs=item))
            continue
        common: dict[str, Any] = {
            "sample": item.sample, "vaf": item.vaf, "depth": item.depth,
            "alt_depth": item.alt_depth, "genotype": item.genotype,
        }  # fmt: skip
        if isinstance(item, HgvsVariantIn):
            entries.append(VariantEntry(record, hgvs=item.hgvs, numbering=item.numbering, **common))
        else:
            entries.append(
                VariantEntry(record, chrom=item.chrom, pos=item.pos, ref=item.ref, alt=item.alt,
                             **common)
            )  # fmt: skip
    try:
        # one reader for the CLI's --hgvs, the Python API and this list: same strings, same errors
        batch = engine.read_hgvs(entries, source="request", sample=req.sample)
    except HgvsListError as exc:
        first = exc.errors[0]
        raise ProblemError(
            422,
            "Invalid variants",
            f"{len(exc.errors)} of {len(req.variants)} variants cannot be annotated; first, "
            f"{first['record']}: {first['detail']}",
            source="request",
            record=first["record"],
            errors=exc.errors[:100],
        ) from None
    return engine, batch
