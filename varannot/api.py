"""The library API the CLI and the HTTP service both call.

``Engine`` holds what is expensive and shared (reference windows, transcript models, the
knowledge base) for one build; ``Engine.run`` turns reader output into the result document.
Data flows one way: readers -> annotation (+ same-codon haplotypes) -> knowledge base ->
calls -> ``ResultDocument``; writers only format that document.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .annotate import AlleleAnnotation, Annotator
from .calls import SampleVariant, Thresholds, call_sample
from .errors import BuildMismatchError, InputError, ReferenceError_
from .genome import canonical_chrom
from .haplotypes import merge_same_codon
from .knowledge import KnowledgeBase, proteins_from
from .models import Build, CopyNumberEvent, CoveredInterval, GenomicVariant, InputBatch, Observation
from .pileup_model import Background, ErrorModel, describe_limit
from .readers.bam import PileupFilters, is_alignment_file
from .readers.sniff import TRACE_SUFFIXES as TRACE_SUFFIXES
from .readers.sniff import sniff_path
from .reference import (
    FastaReference,
    ReferenceProvider,
    check_gene_regions,
    check_models,
)
from .schema import (
    DepthTrackOut,
    DetectionLimitOut,
    InputSummary,
    KnowledgeBaseOut,
    ResultDocument,
    SampleOut,
    SkippedOut,
    VariantOut,
)
from .transcripts import load_transcripts

if TYPE_CHECKING:
    from .readers.hgvs import VariantEntry

log = logging.getLogger("varannot")

VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf", ".gvcf", ".g.vcf", ".g.vcf.gz")
MAF_SUFFIXES = (".maf", ".maf.gz", ".maf.txt")
ALIGNMENT_SUFFIXES = (".bam", ".cram")
# read pileups look this far into the introns beside each coding exon (SO splice_region: 3-8)
SPLICE_PAD = 8
# More than this share of in-gene REF mismatches: the FASTA or build is probably wrong.
MISMATCH_ALARM = 0.2


@dataclass
class RunOptions:
    samples: Sequence[str] | None = None
    tumor: str | None = None
    include_filtered: bool = False
    vcf_backend: str = "auto"
    trace_ratio: float = 0.25
    trace_min_quality: int = 20
    trace_sample: str | None = None
    trace_references: Sequence[Path] = ()
    plot_dir: Path | None = None
    # chromatogram data around calls and KB residues in the document (the browser page draws it)
    trace_windows: bool = False
    thresholds: Thresholds = field(default_factory=Thresholds)
    # BAM/CRAM: read filters, error model and the panel of normals (BAM/CRAM files or a
    # background table ``chrom pos allele rate``)
    pileup_filters: PileupFilters = field(default_factory=PileupFilters)
    error_model: ErrorModel = field(default_factory=ErrorModel)
    pon: Sequence[Path] = ()
    # OncoTree code for every sample (None: not given) and per-sample codes (samplesheet).
    disease: str | None = None
    sample_diseases: Mapping[str, str] = field(default_factory=dict)
    # Deletions / LOH given as input (--copy-number SEG), any sample.
    copy_number: Sequence[CopyNumberEvent] = ()

    def disease_of(self, sample: str) -> str | None:
        return self.sample_diseases.get(sample, self.disease)


def is_trace(path: str | Path) -> bool:
    """Sanger trace or not, by content (the service's rule: :func:`~.readers.sniff.sniff_kind`)."""
    return sniff_path(path) == "trace"


class Engine:
    """Reference, transcript models and knowledge base for one build."""

    def __init__(
        self,
        reference: ReferenceProvider | str | Path,
        build: Build | None = None,
        kb: KnowledgeBase | None = None,
    ):
        if isinstance(reference, (str, Path)):
            reference = FastaReference(reference, build)
        build_given = build is not None
        build = build or reference.build
        if build is None:
            raise ReferenceError_(
                "cannot tell the genome build from the FASTA; pass --build GRCh38 or GRCh37",
                source=reference.name,
            )
        self.reference = reference
        self.build: Build = build
        # how the build was chosen, for messages: never blame a flag the user did not pass
        self.build_source = (
            "--build" if build_given else f"detected from the FASTA {reference.name}"
        )
        check_gene_regions(reference, build)
        self.annotator = Annotator(reference, build)
        # a shifted or foreign record is the FASTA's error, not the knowledge base's
        check_models(
            reference, build, [p for c in self.annotator.contexts.values() for p in c.problems]
        )
        self.kb = kb or KnowledgeBase.load()
        # residues the shipped facts table does not cover are checked against this FASTA
        self.kb_warnings = self.kb.validate(proteins_from(self.annotator))
        self._cache: dict[tuple[str, int, str, str], AlleleAnnotation] = {}
        self._codons: dict[tuple[str, int], tuple[int, int, int]] | None = None
        self._background: tuple[tuple[str, ...], Background] | None = None
        other: Build = "GRCh37" if build == "GRCh38" else "GRCh38"
        self._other_build_regions = [
            (c, s, e) for _, c, s, e in load_transcripts(other).gene_regions()
        ]

    # --- reading --------------------------------------------------------------------------
    def regions(self) -> list[tuple[str, int, int]]:
        return [(c, s, e) for _, c, s, e in self.annotator.transcripts.gene_regions()]

    def read(self, path: str | Path, opts: RunOptions) -> InputBatch:
        """Read one VCF/BCF, MAF or BAM/CRAM, told apart by content (traces: ``read_traces``)."""
        from .readers.maf import is_maf, read_maf
        from .readers.vcf import Region, read_vcf

        if str(path) != "-" and Path(path).is_file() and is_alignment_file(path):
            return self.read_alignments(path, opts)
        if is_maf(path):
            return read_maf(
                path,
                build=self.build,
                base=lambda chrom, pos: self.reference.fetch(chrom, pos, pos),
                regions=self.regions(),
                samples=opts.samples,
            )

        try:
            return read_vcf(
                path,
                regions=[Region(c, s, e) for c, s, e in self.regions()],
                samples=opts.samples,
                tumor=opts.tumor,
                build=self.build,
                backend=opts.vcf_backend,  # type: ignore[arg-type]
            )
        except BuildMismatchError as exc:
            flag = f"but --build {self.build}"
            if self.build_source == "--build" or not exc.message.endswith(flag):
                raise
            raise BuildMismatchError(
                exc.message[: -len(flag)] + f"but the run is {self.build} ({self.build_source})",
                source=exc.source,
                record=exc.record,
            ) from exc

    def read_alignments(
        self, path: str | Path, opts: RunOptions, sample: str | None = None
    ) -> InputBatch:
        """Pile up a BAM/CRAM at every locus that matters (see ``readers.bam``)."""
        from .readers.bam import read_alignments

        fasta = getattr(self.reference, "path", None)
        model = replace(opts.error_model)
        ev = read_alignments(
            path,
            targets=self.read_targets(),
            fetch_ref=self.reference.fetch,
            codons=self.codon_map(),
            filters=opts.pileup_filters,
            model=model,
            fasta=fasta,
            sample=sample,
            background=self.background(opts),
        )
        return ev.batch

    def read_targets(self) -> list[tuple[str, int, int]]:
        """Coding bases ± splice region of every modelled transcript, plus every KB locus."""
        ts = self.annotator.transcripts
        out = [
            (tx.chrom, a - SPLICE_PAD, b + SPLICE_PAD)
            for tx in [*ts.mane.values(), *ts.legacy.values()]
            for a, b in tx.coding_intervals()
        ]
        out += [(c, a, b) for _, c, a, b in self.kb_loci_all()]
        return out

    def codon_map(self) -> dict[tuple[str, int], tuple[int, int, int]]:
        """Genomic position -> the three positions of its codon (MANE and literature models)."""
        if self._codons is None:
            ts = self.annotator.transcripts
            self._codons = {}
            for tx in [*ts.mane.values(), *ts.legacy.values()]:
                for codon in range(1, tx.cds_length // 3 + 1):
                    g = tx.codon_genomic(codon)
                    trio = (min(g), sorted(g)[1], max(g))
                    for p in g:
                        self._codons.setdefault((tx.chrom, p), trio)
        return self._codons

    def background(self, opts: RunOptions) -> Background | None:
        """The panel of normals / background table of ``opts`` (computed once per engine)."""
        if not opts.pon:
            return None
        key = tuple(str(p) for p in opts.pon)
        if self._background is None or self._background[0] != key:
            from .readers.bam import background_from_normals

            tables = [p for p in opts.pon if not is_alignment_file(p)]
            bams = [p for p in opts.pon if is_alignment_file(p)]
            bg = Background(source=", ".join(key))
            for t in tables:
                bg.rates.update(Background.read_table(t).rates)
            if bams:
                pon = background_from_normals(
                    bams,
                    targets=self.read_targets(),
                    fetch_ref=self.reference.fetch,
                    filters=opts.pileup_filters,
                    fasta=getattr(self.reference, "path", None),
                )
                for k, r in pon.rates.items():
                    bg.rates[k] = max(r, bg.rates.get(k, 0.0))
            self._background = (key, bg)
        return self._background[1]

    def read_traces(
        self, paths: Sequence[str | Path], sample: str | None, opts: RunOptions
    ) -> InputBatch:
        from .sanger import call_traces

        refs = self.trace_references(opts.trace_references)
        highlight = self.kb_residues()
        return call_traces(
            paths,
            sample=sample,
            references=refs,
            ratio=opts.trace_ratio,
            min_quality=opts.trace_min_quality,
            plot_dir=opts.plot_dir,
            highlight=highlight,
            windows=self.kb_residue_loci() if opts.trace_windows else None,
            guard=self.kb_residue_loci(),
        )

    def trace_references(self, extra: Sequence[Path] = ()):  # type: ignore[no-untyped-def]
        from .models import ReferenceRegion

        refs = [
            ReferenceRegion(f"{gene} {w.chrom}:{w.start}-{w.end}", w.chrom, w.start, w.seq, gene)
            for gene, w in self.annotator.windows.items()
        ]
        from .readers.trace import read_amplicon_fasta

        for f in extra:
            for name, seq in read_amplicon_fasta(f):
                refs.append(ReferenceRegion(name, name, 1, seq, None))
        return refs

    def kb_residues(self) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for _, chrom, start, end in self.kb_loci_all():
            if end - start <= 3:
                out.append((chrom, start))
        return out

    def kb_residue_loci(self) -> list[tuple[str, str, int, int]]:
        """(label, chrom, start, end) of the residue-level loci (codons, not whole exons)."""
        seen: dict[tuple[str, int, int], str] = {}
        for drug in self.kb.drugs:
            for label, chrom, start, end in self.kb.loci(drug, self.annotator.transcripts):
                if end - start <= 3:
                    seen.setdefault((chrom, start, end), label)
        return [(label, *k) for k, label in sorted(seen.items())]

    def kb_loci_all(self) -> list[tuple[str, str, int, int]]:
        seen: dict[tuple[str, str, int, int], None] = {}
        for drug in self.kb.drugs:
            for locus in self.kb.loci(drug, self.annotator.transcripts):
                seen[locus] = None
        return list(seen)

    def _in_other_build_genes(self, chrom: str, pos: int) -> bool:
        c = canonical_chrom(chrom)
        return any(ch == c and s <= pos <= e for ch, s, e in self._other_build_regions)

    def _depth_tracks(self, profile: object) -> list[DepthTrackOut]:
        """The reader's depth profile, each interval named by the gene it lies in."""
        out = []
        for t in profile if isinstance(profile, list) else []:
            chrom, start, depth = t["chrom"], t["start"], t["depth"]
            genes = self.annotator.transcripts.overlapping(chrom, start, start + len(depth) - 1, 0)
            out.append(
                DepthTrackOut(
                    gene=genes[0].gene if genes else None, chrom=chrom, start=start, depth=depth
                )
            )
        return out

    def _detection_limits(self, out: SampleOut, cov: list[CoveredInterval]) -> None:
        """Per call: each locus's least depth and worst limit of detection (read pileups)."""
        by_pos: dict[tuple[str, int], CoveredInterval] = {}
        for iv in cov:
            if iv.source == "reads":
                for p in range(iv.start, iv.end + 1):
                    by_pos[(iv.chrom, p)] = iv
        called = [v for v in out.variants if v.gene is not None and v.chrom and v.pos is not None]
        called = [v.model_copy(update={"chrom": canonical_chrom(v.chrom)}) for v in called]
        for call in out.calls:
            for label, chrom, a, b in self.kb.loci(call.drug, self.annotator.transcripts):
                ivs = [by_pos.get((chrom, p)) for p in range(a, b + 1)]
                depth = min((iv.depth or 0) if iv else 0 for iv in ivs)
                lods = [iv.lod for iv in ivs if iv is not None and iv.lod is not None]
                lod = max(lods) if lods and depth else None
                call.detection_limits.append(
                    DetectionLimitOut(
                        locus=label,
                        chrom=chrom,
                        start=a,
                        end=b,
                        min_depth=depth,
                        limit_of_detection=lod,
                        text=describe_limit(
                            label,
                            depth,
                            lod,
                            any(
                                v.chrom == chrom and v.pos <= b and v.pos + len(v.ref) - 1 >= a
                                for v in called
                            ),
                        ),
                    )
                )
            if call.call == "no_known_resistance" and call.detection_limits:
                worst = max(
                    call.detection_limits,
                    key=lambda d: (d.limit_of_detection or 1.0, -d.min_depth),
                )
                call.caveats.append(
                    f"read pileup, worst locus: {worst.text}; clones below a locus's limit of "
                    "detection cannot be ruled out"
                )

    # --- annotating -----------------------------------------------------------------------
    def annotate_allele(self, chrom: str, pos: int, ref: str, alt: str) -> AlleleAnnotation:
        key = (chrom, pos, ref, alt)
        hit = self._cache.get(key)
        if hit is None:
            hit = self.annotator.annotate(chrom, pos, ref, alt)
            if len(self._cache) < 200_000:
                self._cache[key] = hit
        return hit

    def annotate_observation(self, ob: Observation) -> AlleleAnnotation:
        """The observation's annotation: made by its reader (protein level) or computed here."""
        if ob.annotation is not None:
            gv = GenomicVariant(ob.chrom, ob.pos, ob.ref, ob.alt)
            return AlleleAnnotation(gv, None, ob.annotation, list(ob.annotation.flags))
        return self.annotate_allele(ob.chrom, ob.pos, ob.ref, ob.alt)

    def read_hgvs(
        self, entries: Sequence[VariantEntry], source: str = "--hgvs", sample: str = "sample"
    ) -> InputBatch:
        """HGVS strings (g., c. or p.) and genomic alleles as one batch; see ``readers.hgvs``."""
        from .readers.hgvs import read_entries

        return read_entries(entries, self.annotator, source=source, sample=sample)

    def run(self, batches: Sequence[InputBatch], opts: RunOptions | None = None) -> ResultDocument:
        """Annotate, merge same-codon haplotypes, match the knowledge base and call per sample."""
        doc, samples = self.run_stream(batches, opts)
        doc.samples.extend(samples)
        return doc

    def run_stream(
        self, batches: Sequence[InputBatch], opts: RunOptions | None = None
    ) -> tuple[ResultDocument, Iterator[SampleOut]]:
        """:meth:`run` for cohorts: the document without its samples, and the samples one by one.

        Each :class:`SampleOut` is computed when the iterator reaches it and nothing keeps it,
        so a writer that streams them (JSON Lines) holds one sample at a time, whatever the
        number of samples.
        """
        opts = opts or RunOptions()
        doc = ResultDocument(
            varannot_version=__version__,
            build=self.build,
            reference=self.reference.name,
            knowledge_base=KnowledgeBaseOut(
                version=self.kb.version,
                sha256=self.kb.sha256,
                sources=list(self.kb.sources),
                rows=len(self.kb.rows),
            ),
            thresholds=opts.thresholds.as_dict(),
        )
        doc.warnings.extend(self.annotator.model_problems)
        doc.warnings.extend(self.kb_warnings)
        by_sample: dict[str, list[tuple[Observation, AlleleAnnotation]]] = {}
        coverage: dict[str, list[CoveredInterval] | None] = {}
        coverage_kind: dict[str, str] = {}
        sources: dict[str, list[str]] = {}
        traces: dict[str, list[dict[str, object]]] = {}
        depth_tracks: dict[str, list[DepthTrackOut]] = {}
        copy_number: list[CopyNumberEvent] = []
        checked = mismatched = other_build_hits = 0
        for batch in batches:
            copy_number.extend(batch.copy_number)
            doc.inputs.append(_summary(batch))
            reader_warnings = batch.details.get("warnings")
            if isinstance(reader_warnings, list):
                doc.warnings.extend(str(w) for w in reader_warnings)
            doc.variants_outside_genes += batch.records_outside_genes
            for s in batch.samples:
                by_sample.setdefault(s, [])
                sources.setdefault(s, []).append(batch.source)
                if s in batch.coverage:
                    prev = coverage.get(s) or []
                    coverage[s] = prev + [_canon(iv) for iv in batch.coverage[s]]
                    coverage_kind[s] = batch.kind if batch.kind in ("trace", "reads") else "gvcf"
                else:
                    coverage.setdefault(s, None)
            if batch.kind == "reads":
                tracks = self._depth_tracks(batch.details.pop("depth_profile", []))
                for s in batch.samples:
                    depth_tracks.setdefault(s, []).extend(tracks)
            if batch.kind == "trace":
                for s in batch.samples:
                    traces.setdefault(s, []).append(dict(batch.details))
            for ob in batch.observations:
                res = self.annotate_observation(ob)
                if res.annotation is None and "invalid_allele" not in res.flags:
                    doc.variants_outside_genes += 1
                    if ob.origin == "trace":
                        # A call on a --trace-reference amplicon: no gene, no drug call, but
                        # a finding of this sample that every output must list.
                        by_sample.setdefault(ob.sample, []).append((ob, res))
                        continue
                    if self._in_other_build_genes(ob.chrom, ob.pos):
                        other_build_hits += 1
                    continue
                checked += 1
                if "ref_mismatch" in res.flags:
                    mismatched += 1
                by_sample.setdefault(ob.sample, []).append((ob, res))
        if checked >= 5 and mismatched / checked > MISMATCH_ALARM:
            doc.warnings.append(
                f"{mismatched} of {checked} variants in the genes have a REF that does not match "
                f"the FASTA: the build ({self.build}) or the FASTA is probably wrong"
            )
        if other_build_hits >= 3 and other_build_hits > checked:
            other = "GRCh37" if self.build == "GRCh38" else "GRCh38"
            doc.warnings.append(
                f"{other_build_hits} variants lie in the {other} gene regions but outside the "
                f"{self.build} ones (only {checked} in the genes): the input is probably {other}"
            )

        def samples() -> Iterator[SampleOut]:
            for sample in list(by_sample):
                items = by_sample.pop(sample)
                out = self._sample(
                    sample,
                    items,
                    coverage.pop(sample, None),
                    coverage_kind.get(sample),
                    opts,
                    [e for e in copy_number if e.sample == sample],
                )  # fmt: skip
                out.sources = sources.get(sample, [])
                out.traces = traces.get(sample, [])
                out.depth_profile = depth_tracks.get(sample, [])
                _trace_failure_caveats(out)
                yield out

        return doc, samples()

    def _sample(
        self,
        sample: str,
        items: list[tuple[Observation, AlleleAnnotation]],
        cov: list[CoveredInterval] | None,
        cov_kind: str | None,
        opts: RunOptions,
        cn: Sequence[CopyNumberEvent] = (),
    ) -> SampleOut:
        out = SampleOut(sample=sample, coverage_source=cov_kind or "unknown")  # type: ignore[arg-type]
        out.disease = opts.disease_of(sample)
        haplo = merge_same_codon(items, self.annotator)
        svs: list[SampleVariant] = []
        outs: list[VariantOut] = []  # parallel to svs
        for (ob, res), (hap_ann, hap_flags) in zip(items, haplo, strict=True):
            flags = list(
                dict.fromkeys(
                    res.flags
                    + (res.annotation.flags if res.annotation else [])
                    + hap_flags
                    + list(ob.extra_flags)
                )
            )
            if res.annotation is None and ob.origin == "trace":
                flags.append("trace_reference_amplicon")
            excluded = not ob.passed and not opts.include_filtered
            if excluded:
                flags.append("filtered")
            ann = hap_ann or res.annotation
            sv = SampleVariant(observation=ob, annotation=ann, flags=flags, excluded=excluded)
            vo = _variant_out(ob, res, flags)
            if hap_ann is not None and hap_ann.protein is not None:
                vo.haplotype_hgvs_p = hap_ann.hgvs_p
            if excluded:
                out.excluded_variants.append(vo)
            else:
                out.variants.append(vo)
                svs.append(sv)
                outs.append(vo)
        calls, unclassified = call_sample(
            svs,
            cov,
            self.kb,
            self.annotator.transcripts,
            opts.thresholds,
            disease=out.disease,
            copy_number=[e for e in [*opts.copy_number, *cn] if e.sample == sample],
        )
        out.calls = calls
        out.unclassified_variants = unclassified
        if cov_kind == "reads" and cov is not None:
            self._detection_limits(out, cov)
        for sv, vo in zip(svs, outs, strict=True):
            if sv.annotation is not None:
                rules = self.kb.match(sv.annotation)
                vo.rule_ids = [r.id for r in rules]
                vo.classified = bool(rules)
        return out


def _trace_failure_caveats(out: SampleOut) -> None:
    """Name every trace of the sample that gave no evidence (and why) on each of its calls.

    Such a trace adds nothing to coverage, so the loci it was meant to show stay not assessed;
    the caveat says why, so a failed read is never mistaken for a clean one.
    """
    notes: list[str] = []
    for details in out.traces:
        failed = details.get("failed_traces")
        for f in failed if isinstance(failed, list) else []:
            if isinstance(f, dict):
                notes.append(f"trace {f.get('trace')} gave no evidence: {f.get('reason')}")
    if not notes:
        return
    for call in out.calls:
        call.caveats.extend(n for n in notes if n not in call.caveats)


def _canon(iv: CoveredInterval) -> CoveredInterval:
    c = canonical_chrom(iv.chrom)
    if c == iv.chrom:
        return iv
    return CoveredInterval(c, iv.start, iv.end, iv.depth, iv.source, iv.lod)


def _summary(batch: InputBatch) -> InputSummary:
    return InputSummary(
        source=batch.source,
        kind=batch.kind,
        samples=list(batch.samples),
        records_read=batch.records_read,
        records_outside_genes=batch.records_outside_genes,
        skipped=[
            SkippedOut(reason=r, count=n, examples=batch.skipped.examples.get(r, []))
            for r, n in sorted(batch.skipped.counts.items())
        ],
        # chromatogram windows travel once, with the sample (``SampleOut.traces``)
        details={k: v for k, v in batch.details.items() if _jsonable(v) and k != "windows"},
    )


def _jsonable(v: object) -> bool:
    return isinstance(v, (str, int, float, bool, list, dict, type(None)))


def _variant_out(ob: Observation, res: AlleleAnnotation, flags: list[str]) -> VariantOut:
    a = res.annotation
    return VariantOut(
        chrom=ob.chrom,
        pos=ob.pos,
        ref=ob.ref,
        alt=ob.alt,
        gene=a.gene if a else None,
        transcript=a.transcript if a else None,
        consequence=list(a.consequence) if a else [],
        hgvs_c=a.hgvs_c if a else None,
        hgvs_p=a.hgvs_p if a else None,
        protein_change=a.protein.short if a and a.protein else None,
        flags=flags,
        hgvs_p_legacy=a.hgvs_p_legacy if a else None,
        protein_change_legacy=a.legacy_protein.short if a and a.legacy_protein else None,
        legacy_transcript=a.legacy_transcript if a else None,
        hgvs_c_legacy=a.hgvs_c_legacy if a else None,
        exon=a.exon if a else None,
        intron=a.intron if a else None,
        normalized=str(res.normalized) if res.normalized else None,
        genotype=ob.genotype,
        depth=ob.depth,
        alt_depth=ob.alt_depth,
        vaf=ob.vaf,
        vaf_source=ob.vaf_source,
        filter=list(ob.filters),
        source=ob.source,
        record=ob.record,
        phase_set=ob.phase_set,
    )


def group_inputs(
    paths: Iterable[str | Path], trace_sample: str | None = None
) -> list[tuple[str, list[Path]]]:
    """Split inputs into VCF files and trace groups (one group per sample)."""
    out: list[tuple[str, list[Path]]] = []
    traces: dict[str, list[Path]] = {}
    for p in paths:
        path = Path(p)
        if str(p) == "-":
            out.append(("vcf", [path]))
        elif is_trace(path):
            key = trace_sample or path.name.split(".")[0]
            traces.setdefault(key, []).append(path)
        elif not path.exists():
            raise InputError("file not found", source=str(p))
        else:
            out.append(("vcf", [path]))
    for sample, ps in traces.items():
        out.append((f"trace:{sample}", ps))
    return out


def annotate_files(
    paths: Sequence[str | Path],
    *,
    fasta: str | Path,
    build: Build | None = None,
    kb: KnowledgeBase | None = None,
    options: RunOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> ResultDocument:
    """Read, annotate and call a set of inputs: the one-call API."""
    opts = options or RunOptions()
    engine = Engine(fasta, build, kb)
    batches: list[InputBatch] = []
    for kind, group in group_inputs(paths, opts.trace_sample):
        if progress:
            progress(", ".join(str(g) for g in group))
        if kind == "vcf":
            batches.append(engine.read(group[0], opts))
        else:
            batches.append(engine.read_traces(group, kind.split(":", 1)[1], opts))
    return engine.run(batches, opts)
