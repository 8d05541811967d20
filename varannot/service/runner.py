"""Engines and running inputs: the blocking calls the routes and job workers make into the library.

:class:`EngineSet` builds one :class:`~varannot.api.Engine` per build at start-up; :func:`run_files`
sniffs the build of uploaded files and runs them through ``Engine.run`` exactly as the CLI does,
relabelling temporary paths with the client's file names; :func:`run_json` annotates a JSON
variant list (genomic, HGVS c./g. or protein-level; the latter through the small
:class:`_ListEngine` subclass that serves pre-annotated alleles). Everything here runs in a
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

from ..annotate import AlleleAnnotation
from ..api import Engine, RunOptions
from ..errors import BuildMismatchError, InputError, VarannotError
from ..genome import accession_build, detect_build
from ..hgvs_input import parse_to_genomic
from ..knowledge import KnowledgeBase
from ..models import Build, GenomicVariant, InputBatch, Observation
from ..protein_input import annotate_protein
from ..schema import ResultDocument
from .problems import ProblemError
from .schemas import AnnotateRequest, FileOptions, GenomicVariantIn, HgvsVariantIn, _Measured
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
    if len(files) == 1 and batch.details.get("sites_only"):
        old, new = _label_stem(files[0].path.name), _label_stem(files[0].display)
        batch.samples = [new if s == old else s for s in batch.samples]
        for ob in batch.observations:
            if ob.sample == old:
                ob.sample = new
        if old in batch.coverage:
            batch.coverage[new] = batch.coverage.pop(old)
    for key, value in list(batch.details.items()):
        if isinstance(value, str):
            for p, d in names.items():
                value = value.replace(p, d)
            batch.details[key] = value


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


def _run_files(es: EngineSet, files: Sequence[StoredFile], opts: FileOptions) -> ResultDocument:
    run_opts = opts.run_options()
    vcfs = [f for f in files if f.kind == "vcf"]
    traces = [f for f in files if f.kind == "trace"]
    detected: dict[Build, tuple[str, str]] = {}  # build -> (file, evidence)
    for f in vcfs:
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


class _ListEngine(Engine):
    """The shared engine, seeing protein-level entries as pre-annotated alleles.

    ``Engine.run`` annotates each observation through ``annotate_allele``; protein-level
    entries have no nucleotide change, so their annotation is made beforehand
    (``protein_input``) and handed over here by their symbolic allele. Everything else
    (same-codon merging, knowledge base, calls) is the library's own code path.
    """

    def __init__(self, base: Engine, pre: dict[tuple[str, int, str, str], AlleleAnnotation]):
        self.__dict__.update(base.__dict__)
        self._base = base
        self._pre = pre

    def annotate_allele(self, chrom: str, pos: int, ref: str, alt: str) -> AlleleAnnotation:
        hit = self._pre.get((chrom, pos, ref, alt))
        return hit if hit is not None else self._base.annotate_allele(chrom, pos, ref, alt)


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
    if len(req.variants) > max_variants:
        raise ProblemError(
            413, "Too many variants", f"at most {max_variants} variants per request; use a VCF",
            source="request",
        )  # fmt: skip
    build = req.build or _json_build(req)
    engine = es.pick(build)
    annotator = engine.annotator
    observations: list[Observation] = []
    pre: dict[tuple[str, int, str, str], AlleleAnnotation] = {}
    errors: list[dict[str, Any]] = []
    for i, item in enumerate(req.variants):
        record = f"variants[{i}]"
        measured = item if isinstance(item, _Measured) else None
        try:
            if isinstance(item, GenomicVariantIn):
                chrom, pos, ref, alt = item.chrom, item.pos, item.ref.upper(), item.alt.upper()
            else:
                text = item.hgvs if isinstance(item, HgvsVariantIn) else item
                if ":p." in text:
                    numbering = item.numbering if isinstance(item, HgvsVariantIn) else None
                    pv = annotate_protein(text, annotator, numbering)
                    chrom, pos, ref, alt = pv.chrom, pv.pos, pv.ref, pv.alt
                    pre[(chrom, pos, ref, alt)] = AlleleAnnotation(
                        GenomicVariant(chrom, pos, ref, alt), None, pv.annotation, list(pv.flags)
                    )
                elif re.search(r":[cg]\.", text):
                    gv = parse_to_genomic(text, annotator)
                    chrom, pos, ref, alt = gv.chrom, gv.pos, gv.ref, gv.alt
                else:
                    raise InputError(
                        "not an HGVS g., c. or p. variant (e.g. NM_000546.6:c.524G>A, "
                        "MEN1:p.Met327Ile)",
                        source=text,
                    )
        except VarannotError as exc:
            errors.append(
                {"record": record, "source": exc.source, "title": exc.title,
                 "detail": exc.message}
            )  # fmt: skip
            continue
        vaf, vaf_source = None, None
        if measured is not None:
            vaf = measured.vaf
            vaf_source = "request" if vaf is not None else None
            if vaf is None and measured.depth and measured.alt_depth is not None:
                vaf, vaf_source = measured.alt_depth / measured.depth, "request alt_depth/depth"
        observations.append(
            Observation(
                sample=(measured.sample if measured and measured.sample else None) or req.sample,
                chrom=chrom,
                pos=pos,
                ref=ref,
                alt=alt,
                source="request",
                record=record,
                genotype=measured.genotype if measured else None,
                depth=measured.depth if measured else None,
                alt_depth=measured.alt_depth if measured else None,
                vaf=vaf,
                vaf_source=vaf_source,
                origin="list",
            )
        )
    if errors:
        first = errors[0]
        raise ProblemError(
            422,
            "Invalid variants",
            f"{len(errors)} of {len(req.variants)} variants cannot be annotated; first, "
            f"{first['record']}: {first['detail']}",
            source="request",
            record=first["record"],
            errors=errors[:100],
        )
    samples = list(dict.fromkeys(ob.sample for ob in observations))
    batch = InputBatch(
        source="request",
        kind="list",
        samples=samples,
        observations=observations,
        records_read=len(req.variants),
    )
    run_engine: Engine = _ListEngine(engine, pre) if pre else engine
    opts = RunOptions(thresholds=req.thresholds())
    return _finish_document(run_engine.run([batch], opts))
