"""Command line: a thin shell over ``varannot.api`` (typer).

Exit codes: 0 done; 2 usage error, unusable output path or unreadable input (nothing written);
3 ``--fail-on`` matched; 4 finished, but some inputs could not be read (listed in the summary,
the report and ``errors.tsv``; their samples are ``not_assessed``). ``reference check``: 0 the
FASTA agrees with the transcript models, 1 it does not (problems listed), 2 unreadable.
On a terminal the result is a summary table; piped (or with ``--format``/``-o``) it is the
machine document. Logs and progress go to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
import typer.core

from . import __version__
from .errors import VarannotError

if TYPE_CHECKING:
    from .readers.hgvs import VariantEntry

# typer prints a Python type beside every argument ("<list[Path]>"); the metavar says enough.
typer.core.TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign,assignment,unused-ignore]

app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Resistance-mutation annotation for MEN1, BCL2, BAX and TP53 "
    "(HGVS, SO consequences, per-drug resistance calls).\n\n"
    "Exit codes: 0 done; 2 usage error or unreadable input; 3 --fail-on matched; "
    "4 finished, some inputs could not be read (see errors.tsv).",
)
reference_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Get or check the reference sequence."
)
kb_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Show or validate a knowledge base."
)
app.add_typer(reference_app, name="reference")
app.add_typer(kb_app, name="kb")
log = logging.getLogger("varannot")


class Fmt(StrEnum):
    table = "table"
    json = "json"
    tsv = "tsv"
    variants_tsv = "variants-tsv"
    maf = "maf"
    evidence_tsv = "evidence-tsv"
    jsonl = "jsonl"


class FailOn(StrEnum):
    never = "never"
    resistant = "resistant"
    likely_resistant = "likely_resistant"
    uncertain = "uncertain"
    not_assessed = "not_assessed"  # anything but no_known_resistance (a gate for "all seen")


class BuildOpt(StrEnum):
    GRCh38 = "GRCh38"
    GRCh37 = "GRCh37"


def _die(exc: VarannotError | str, code: int = 2) -> NoReturn:
    typer.echo(f"varannot: error: {exc}", err=True)
    raise typer.Exit(code)


def _probe_output_file(path: Path) -> None:
    """Fail before the work starts when ``-o`` cannot be written (one line, exit 2)."""
    if path.is_dir():
        _die(f"-o {path}: is a directory; give a file name")
    if not path.parent.is_dir():
        _die(f"-o {path}: the directory {path.parent} does not exist")
    existed = path.exists()
    try:
        with path.open("a"):
            pass
    except OSError as exc:
        _die(f"-o {path}: cannot write: {exc.strerror or exc}")
    if not existed:
        path.unlink(missing_ok=True)


def _probe_out_dir(path: Path) -> None:
    """Fail before the work starts when ``--out-dir`` cannot be made or written (exit 2).

    Directories this probe creates are removed again, so a run that then fails on its inputs
    leaves nothing behind.
    """
    if path.exists() and not path.is_dir():
        _die(f"--out-dir {path}: exists and is not a directory")
    created: list[Path] = []
    anc = path
    while not anc.exists():
        created.append(anc)
        anc = anc.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".varannot-probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        _die(f"--out-dir {path}: cannot write there: {exc.strerror or exc}")
    finally:
        for d in created:
            try:
                d.rmdir()
            except OSError:
                break


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="varannot: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def annotate(
    fasta: Annotated[
        Path,
        typer.Option(
            "--fasta",
            "-f",
            metavar="FASTA",
            help="reference FASTA (whole genome or region records)",
        ),
    ],
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="INPUT",
            help="VCF/BCF files ('-' = stdin), BAM/CRAM (indexed; CRAM decoded with --fasta), "
            "traces (.ab1/.scf), MAF or run directories; "
            "optional with --samplesheet (its files are then the inputs)",
            show_default=False,
        ),
    ] = None,
    build: Annotated[
        BuildOpt | None,
        typer.Option(help="genome build (detected from the FASTA when omitted)"),
    ] = None,
    fmt: Annotated[
        Fmt | None,
        typer.Option(
            "--format",
            help="table (summary for people), json (full document), tsv (calls: sample x "
            "drug), variants-tsv or maf (variants with HGVS and calls per row, for cBioPortal/"
            "maftools), jsonl (JSON Lines streamed one sample at a time, for cohorts; needs -o)"
            "  [default: table on a terminal, json when piped or with -o, jsonl for -o *.jsonl]",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="FILE", help="write the document to FILE"),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            metavar="DIR",
            help="write a run folder: report.html, calls.tsv, variants.tsv, results.json, "
            "errors.tsv, annotated VCFs, trace plots",
        ),
    ] = None,
    samples: Annotated[
        str | None,
        typer.Option(metavar="NAME,...", help="comma-separated VCF sample names to keep"),
    ] = None,
    tumor: Annotated[
        str | None, typer.Option(metavar="NAME", help="tumour sample of a tumour/normal VCF")
    ] = None,
    sample: Annotated[
        str | None,
        typer.Option(
            "--sample",
            metavar="NAME",
            help="one sample name for all trace inputs and --hgvs variants (default: from "
            "each file name)",
        ),
    ] = None,
    hgvs: Annotated[
        list[str] | None,
        typer.Option(
            "--hgvs",
            metavar="HGVS",
            help="a variant as HGVS (NM_000546.6:c.524G>A, NC_000017.11:g.7675088C>T, "
            "NP_000235.2:p.Met327Ile); repeat for several",
        ),
    ] = None,
    hgvs_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--hgvs-file",
            metavar="FILE",
            help="one HGVS per line, optional sample and VAF columns (tab or comma; "
            "or a header: hgvs,sample,vaf,depth,alt_depth,numbering)",
        ),
    ] = None,
    samplesheet: Annotated[
        Path | None,
        typer.Option(
            metavar="CSV",
            help="columns sample,file[,vcf_sample]: names inputs (rows sharing a sample merge "
            "its files); its files are read when no INPUT is given",
        ),
    ] = None,
    kb: Annotated[
        list[Path] | None,
        typer.Option(
            "--kb",
            metavar="TSV",
            help="site knowledge-base table, added to the shipped one (repeatable)",
        ),
    ] = None,
    kb_replace: Annotated[
        bool, typer.Option("--kb-replace", help="use only the --kb tables, not the shipped one")
    ] = False,
    include_filtered: Annotated[
        bool, typer.Option("--include-filtered", help="let non-PASS records count in calls")
    ] = False,
    # the defaults are those of calls.Thresholds (a test keeps them equal)
    min_depth: Annotated[
        int, typer.Option(metavar="N", help="minimum depth for a locus to count as covered")
    ] = 20,
    reporting_vaf: Annotated[
        float,
        typer.Option(metavar="VAF", help="VAF at or above which a confirmed match is 'resistant'"),
    ] = 0.05,
    detection_floor: Annotated[
        float,
        typer.Option(metavar="VAF", help="VAF below which a match is listed but not called"),
    ] = 0.01,
    vcf_backend: Annotated[
        str, typer.Option(metavar="NAME", help="VCF reader: auto, pysam or pyvcf3")
    ] = "auto",
    trace_reference: Annotated[
        list[Path] | None,
        typer.Option(metavar="FASTA", help="FASTA of amplicons outside the four genes"),
    ] = None,
    trace_ratio: Annotated[
        float,
        typer.Option(metavar="R", help="secondary/primary peak ratio for a heterozygous call"),
    ] = 0.25,
    trace_min_quality: Annotated[
        int,
        typer.Option(
            metavar="Q",
            help="minimum call quality for a trace variant (lower it and --trace-ratio to "
            "look for subclones under 20%)",
        ),
    ] = 20,
    pon: Annotated[
        list[Path] | None,
        typer.Option(
            "--pon",
            metavar="FILE",
            help="BAM/CRAM input: panel of normals (BAM/CRAM files) or a background table "
            "(TSV chrom,pos,allele,rate) raising each position's error background (repeatable)",
        ),
    ] = None,
    min_base_quality: Annotated[
        int, typer.Option(metavar="Q", help="BAM/CRAM input: minimum base quality counted")
    ] = 20,
    min_mapping_quality: Annotated[
        int, typer.Option(metavar="Q", help="BAM/CRAM input: minimum mapping quality counted")
    ] = 20,
    error_floor: Annotated[
        float,
        typer.Option(
            metavar="RATE",
            help="BAM/CRAM input: least error rate assumed per base change (lower it for "
            "duplex/UMI-consensus reads)",
        ),
    ] = 5e-4,
    keep_duplicates: Annotated[
        bool,
        typer.Option(
            "--keep-duplicates",
            help="BAM/CRAM input: count reads flagged duplicate (deduplicated or UMI-consensus "
            "BAMs need nothing: consensus reads are used as they are)",
        ),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", metavar="N", help="worker processes across files (0 = one per core)"
        ),
    ] = 1,
    dask_scheduler: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="tcp://HOST:PORT of a Dask scheduler (its workers must see the inputs, "
            "FASTA and --out-dir)",
        ),
    ] = None,
    disease: Annotated[
        str | None,
        typer.Option(
            metavar="CODE",
            help="the samples' disease as an OncoTree code (AML, BLL, TLL, CLLSLL, MDS, ...); "
            "a samplesheet 'disease' column overrides it per sample",
        ),
    ] = None,
    copy_number: Annotated[
        list[Path] | None,
        typer.Option(
            "--copy-number",
            metavar="SEG",
            help="SEG file (sample, chrom, start, end, copy_number or log2): TP53 deletions/LOH",
        ),
    ] = None,
    fail_on: Annotated[
        FailOn,
        typer.Option(
            help="exit 3 when any sample has this call (or worse); not_assessed: any call "
            "other than no_known_resistance"
        ),
    ] = FailOn.never,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="no progress or info on stderr")
    ] = False,
) -> None:
    """Annotate variants and call resistance per sample and drug."""
    _setup_logging(quiet)
    from .api import RunOptions
    from .calls import Thresholds
    from .knowledge import KnowledgeBase, check_disease
    from .pileup_model import ErrorModel
    from .readers.bam import PileupFilters
    from .readers.copynumber import read_seg
    from .writers import calls_tsv, evidence_tsv, to_json, variants_tsv

    if not inputs and samplesheet is None and not hgvs and not hgvs_file:
        _die("give at least one INPUT (a file or a run directory), --samplesheet or --hgvs")
    stream = None
    if fmt == Fmt.jsonl or (fmt is None and output is not None and output.suffix == ".jsonl"):
        if output is None:
            _die("--format jsonl streams to a file: give -o FILE")
        stream, fmt = output, Fmt.jsonl
    if output is not None:
        _probe_output_file(output)
    if out_dir is not None:
        _probe_out_dir(out_dir)
    try:
        th = Thresholds()
        th.min_depth = min_depth
        th.reporting_vaf = reporting_vaf
        th.detection_floor = detection_floor
        opts = RunOptions(
            samples=[s for s in samples.split(",") if s] if samples else None,
            tumor=tumor,
            include_filtered=include_filtered,
            vcf_backend=vcf_backend,
            trace_ratio=trace_ratio,
            trace_min_quality=trace_min_quality,
            trace_sample=sample,
            trace_references=trace_reference or [],
            thresholds=th,
            pileup_filters=PileupFilters(
                min_base_quality=min_base_quality,
                min_mapping_quality=min_mapping_quality,
                include_duplicates=keep_duplicates,
            ),
            pon=pon or [],
            error_model=ErrorModel(substitution_floor=error_floor),
            disease=check_disease(disease, source="--disease"),
            copy_number=[e for f in copy_number or [] for e in read_seg(f)],
        )
        lists: dict[str, list[VariantEntry]] = {}
        if hgvs or hgvs_file:  # the HGVS parsers are imported only when asked for
            from .readers.hgvs import entries_from_strings, read_hgvs_file

            if hgvs:
                lists["--hgvs"] = entries_from_strings(hgvs, sample)
            for f in hgvs_file or []:
                lists[str(f)] = read_hgvs_file(f, sample)
        knowledge = KnowledgeBase.load(kb or [], replace=kb_replace)
        from .run import execute_run

        result = execute_run(
            inputs or [],
            fasta=fasta,
            build=build.value if build else None,  # type: ignore[arg-type]
            kb=knowledge,
            options=opts,
            out_dir=out_dir,
            stream=stream,
            samplesheet=samplesheet,
            jobs=jobs,
            dask_scheduler=dask_scheduler,
            quiet=quiet,
            hgvs=lists,
        )
    except VarannotError as exc:
        _die(exc)
    doc = result.doc
    for w in doc.warnings:
        log.warning("warning: %s", w)
    if fmt is None:
        fmt = Fmt.table if output is None and sys.stdout.isatty() else Fmt.json
    if fmt == Fmt.jsonl:
        pass  # already streamed to the file by execute_run
    elif fmt == Fmt.table:
        from .console import print_summary

        print_summary(result, out_dir, file=output)
    elif out_dir is None or output is not None:
        from .maf import to_maf

        writer = {
            Fmt.json: to_json,
            Fmt.tsv: calls_tsv,
            Fmt.variants_tsv: variants_tsv,
            Fmt.evidence_tsv: evidence_tsv,
        }
        text = to_maf(doc) if fmt == Fmt.maf else writer[fmt](doc)
        if output:
            try:
                output.write_text(text)
            except OSError as exc:
                _die(f"-o {output}: cannot write: {exc.strerror or exc}")
        else:
            sys.stdout.write(text)
    if fail_on != FailOn.never:
        calls: set[str] = {c.call for s in doc.samples for c in s.calls}
        if result.streamed is not None:
            calls |= set(result.streamed.calls)  # the samples went to the file
        if fail_on == FailOn.not_assessed:
            hit = bool(calls - {"no_known_resistance"})
        else:
            bad = (
                {"resistant"} if fail_on == FailOn.resistant else {"resistant", "likely_resistant"}
            )
            if fail_on == FailOn.uncertain:
                bad.add("uncertain")
            hit = bool(calls & bad)
        if hit:
            raise typer.Exit(3)
    if result.failures:
        raise typer.Exit(4)


@reference_app.command("fetch")
def reference_fetch(
    build: Annotated[BuildOpt, typer.Option(help="genome build")] = BuildOpt.GRCh38,
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="output directory")] = Path(
        "varannot-reference"
    ),
    base_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="E-utilities base URL or file:// mirror (default: $VARANNOT_EUTILS_URL or NCBI)",
        ),
    ] = None,
) -> None:
    """Download the four gene regions (with flanks) as a region FASTA plus manifest."""
    from .fetch import fetch_reference

    try:
        path = fetch_reference(build.value, out, base_url)  # type: ignore[arg-type]
    except VarannotError as exc:
        _die(exc)
    typer.echo(str(path))


@reference_app.command("check")
def reference_check(
    fasta: Annotated[
        Path, typer.Option("--fasta", "-f", metavar="FASTA", help="the FASTA to check")
    ],
    build: Annotated[
        BuildOpt | None, typer.Option(help="genome build (detected from the FASTA when omitted)")
    ] = None,
) -> None:
    """Check the FASTA against the transcript models: start/stop codons, no internal stops,
    unknown bases per gene.

    Exit codes: 0 the FASTA agrees with the models; 1 it does not (each problem on stderr);
    2 the FASTA cannot be read or its build cannot be told.
    """
    from .annotate import Annotator
    from .reference import FastaReference, check_gene_regions

    try:
        ref = FastaReference(fasta, build.value if build else None)  # type: ignore[arg-type]
        b = (build.value if build else None) or ref.build
        if b is None:
            _die("cannot tell the build from the FASTA; pass --build")
        check_gene_regions(ref, b)  # type: ignore[arg-type]
        ann = Annotator(ref, b)  # type: ignore[arg-type]
    except VarannotError as exc:
        _die(exc)
    typer.echo(f"build\t{b}")
    for gene, frac in sorted(ann.unknown_fraction.items()):
        typer.echo(f"{gene}\tunknown bases in region: {frac:.1%}")
    for acc, ctx in sorted(ann.contexts.items()):
        cds = ctx.cds
        state = "partial (N in CDS)" if "N" in cds else ("FAIL" if ctx.problems else "ok")
        typer.echo(f"{acc}\t{ctx.tx.gene}\tCDS {len(cds)} nt\t{state}")
    if ann.model_problems:
        for p in ann.model_problems:
            typer.echo(f"problem: {p}", err=True)
        raise typer.Exit(1)


@kb_app.command("show")
def kb_show(
    kb: Annotated[
        list[Path] | None,
        typer.Option(
            "--kb", metavar="TSV", help="site table, added to the shipped one (repeatable)"
        ),
    ] = None,
    kb_replace: Annotated[
        bool, typer.Option("--kb-replace", help="show only the --kb tables")
    ] = False,
) -> None:
    """Print the knowledge base (version, sha256, rows)."""
    from .knowledge import KnowledgeBase

    try:
        k = KnowledgeBase.load(kb or [], replace=kb_replace)
    except VarannotError as exc:
        _die(exc)
    from .kbcli import show_text

    typer.echo(show_text(k))


@kb_app.command("validate")
def kb_validate(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="TSV...", help="knowledge-base tables to validate"),
    ],
    fasta: Annotated[
        Path | None,
        typer.Option(
            "--fasta",
            "-f",
            metavar="FASTA",
            help="check residues against proteins translated from this FASTA",
        ),
    ] = None,
    build: Annotated[
        BuildOpt | None, typer.Option(help="genome build of --fasta (detected when omitted)")
    ] = None,
) -> None:
    """Validate site knowledge-base tables (residues, genes, drugs, SO terms, duplicates).

    Every bad row is reported, not only the first; exit 2 when any is bad.
    """
    from .kbcli import validate_files

    try:
        text = validate_files(files, fasta=fasta, build=build.value if build else None)
    except VarannotError as exc:
        _die(exc)
    typer.echo(text)


@app.command()
def serve(
    fasta: Annotated[
        list[Path],
        typer.Option(
            "--fasta", "-f", metavar="FASTA", help="reference FASTA (repeat for several builds)"
        ),
    ],
    build: Annotated[
        list[BuildOpt] | None,
        typer.Option(
            metavar="GRCh38|GRCh37",
            help="build of each --fasta, in order (detected when omitted)",
        ),
    ] = None,
    kb: Annotated[
        list[Path] | None,
        typer.Option("--kb", metavar="TSV", help="site knowledge-base table (repeatable)"),
    ] = None,
    kb_replace: Annotated[
        bool, typer.Option("--kb-replace", help="use only the --kb tables")
    ] = False,
    host: Annotated[str, typer.Option(metavar="ADDR", help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="port")] = 8000,
    workers: Annotated[int, typer.Option(metavar="N", help="background job workers")] = 1,
    data_dir: Annotated[
        Path,
        typer.Option(metavar="DIR", help="where jobs, uploads and the SQLite database live"),
    ] = Path("varannot-data"),
) -> None:
    """Run the HTTP service (FastAPI + uvicorn)."""
    from .service import serve as run_server

    try:
        run_server(
            fastas=fasta,
            builds=[b.value for b in build] if build else None,
            kb=kb or [],
            kb_replace=kb_replace,
            host=host,
            port=port,
            workers=workers,
            data_dir=data_dir,
        )
    except VarannotError as exc:
        _die(exc)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    try:
        app()
    except VarannotError as exc:  # pragma: no cover - commands catch their own
        _die(exc)


if __name__ == "__main__":  # pragma: no cover
    main()
