"""Command line: a thin shell over ``varannot.api`` (typer).

Exit codes: 0 done; 2 usage error or unreadable input; 3 ``--fail-on`` matched.
The document goes to stdout (or ``-o``); logs and progress go to stderr.
"""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from . import __version__
from .errors import VarannotError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Resistance-mutation annotation for MEN1, BCL2, BAX and TP53 "
    "(HGVS, SO consequences, per-drug resistance calls).\n\n"
    "Exit codes: 0 done; 2 usage error or unreadable input; 3 --fail-on matched.",
)
reference_app = typer.Typer(no_args_is_help=True, help="Get or check the reference sequence.")
kb_app = typer.Typer(no_args_is_help=True, help="Show or validate a knowledge base.")
app.add_typer(reference_app, name="reference")
app.add_typer(kb_app, name="kb")
log = logging.getLogger("varannot")


class Fmt(StrEnum):
    json = "json"
    tsv = "tsv"
    variants_tsv = "variants-tsv"


class FailOn(StrEnum):
    never = "never"
    resistant = "resistant"
    likely_resistant = "likely_resistant"


class BuildOpt(StrEnum):
    GRCh38 = "GRCh38"
    GRCh37 = "GRCh37"


def _die(exc: VarannotError | str, code: int = 2) -> NoReturn:
    typer.echo(f"varannot: error: {exc}", err=True)
    raise typer.Exit(code)


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="varannot: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def annotate(
    fasta: Annotated[
        Path, typer.Option("--fasta", "-f", help="reference FASTA (whole genome or region records)")
    ],
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help="VCF/BCF files ('-' = stdin), traces (.ab1/.scf) or a run directory"),
    ] = None,
    build: Annotated[
        BuildOpt | None, typer.Option(help="genome build (detected from the FASTA when omitted)")
    ] = None,
    fmt: Annotated[
        Fmt,
        typer.Option(
            "--format", help="json (full document), tsv (calls: sample x drug) or variants-tsv"
        ),
    ] = Fmt.json,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="write the document here instead of stdout"),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            help="write a full run report (calls.tsv, variants.tsv, results.json, VCFs, report.html)",
        ),
    ] = None,
    samples: Annotated[
        str | None, typer.Option(help="comma-separated sample names to keep")
    ] = None,
    tumor: Annotated[str | None, typer.Option(help="tumour sample of a tumour/normal VCF")] = None,
    sample: Annotated[
        str | None,
        typer.Option("--sample", help="sample name for the trace inputs and --hgvs variants"),
    ] = None,
    hgvs: Annotated[
        list[str] | None,
        typer.Option(
            "--hgvs",
            help="a variant as HGVS (NM_000546.6:c.524G>A, NC_000017.11:g.7675088C>T, "
            "NP_000235.2:p.Met327Ile); repeat for several",
        ),
    ] = None,
    hgvs_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--hgvs-file",
            help="one HGVS per line, optional sample and VAF columns (tab or comma; "
            "or a header: hgvs,sample,vaf,depth,alt_depth,numbering)",
        ),
    ] = None,
    samplesheet: Annotated[
        Path | None,
        typer.Option(
            help="CSV/TSV with columns sample,file[,vcf_sample]: names inputs; rows sharing a sample merge its files"
        ),
    ] = None,
    kb: Annotated[
        list[Path] | None,
        typer.Option("--kb", help="site knowledge-base table (added to the shipped one)"),
    ] = None,
    kb_replace: Annotated[
        bool, typer.Option(help="use only the --kb tables, not the shipped one")
    ] = False,
    include_filtered: Annotated[
        bool, typer.Option(help="let non-PASS records count in calls")
    ] = False,
    min_depth: Annotated[
        int | None, typer.Option(help="minimum depth for a locus to count as covered")
    ] = None,
    reporting_vaf: Annotated[
        float | None, typer.Option(help="VAF at or above which a confirmed match is 'resistant'")
    ] = None,
    detection_floor: Annotated[
        float | None, typer.Option(help="VAF below which a match is not reported")
    ] = None,
    vcf_backend: Annotated[str, typer.Option(help="auto, pysam or pyvcf3")] = "auto",
    trace_reference: Annotated[
        list[Path] | None, typer.Option(help="FASTA of amplicons outside the four genes")
    ] = None,
    trace_ratio: Annotated[
        float, typer.Option(help="secondary/primary peak ratio for a heterozygous call")
    ] = 0.25,
    trace_min_quality: Annotated[
        int,
        typer.Option(
            help="minimum call quality for a trace variant (lower it with --trace-ratio to look for subclones under 20%)"
        ),
    ] = 20,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="worker processes across files (0 = one per core)")
    ] = 1,
    dask_scheduler: Annotated[
        str | None,
        typer.Option(
            help="tcp://HOST:PORT of a Dask scheduler (its workers must see the inputs, FASTA and --out-dir)"
        ),
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option(help="exit 3 when any sample has this call (or worse)")
    ] = FailOn.never,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="no progress or info on stderr")
    ] = False,
) -> None:
    """Annotate variants and call resistance per sample and drug."""
    _setup_logging(quiet)
    from .api import RunOptions
    from .calls import Thresholds
    from .knowledge import KnowledgeBase
    from .writers import calls_tsv, to_json, variants_tsv

    try:
        th = Thresholds()
        if min_depth is not None:
            th.min_depth = min_depth
        if reporting_vaf is not None:
            th.reporting_vaf = reporting_vaf
        if detection_floor is not None:
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
        )
        from .readers.hgvs import VariantEntry, entries_from_strings, read_hgvs_file

        lists: dict[str, list[VariantEntry]] = {}
        if hgvs:
            lists["--hgvs"] = entries_from_strings(hgvs, sample)
        for f in hgvs_file or []:
            lists[str(f)] = read_hgvs_file(f, sample)
        if not inputs and not lists:
            _die("give input files, --hgvs or --hgvs-file")
        knowledge = KnowledgeBase.load(kb or [], replace=kb_replace)
        from .run import execute_run

        doc = execute_run(
            inputs or [],
            fasta=fasta,
            build=build.value if build else None,  # type: ignore[arg-type]
            kb=knowledge,
            options=opts,
            out_dir=out_dir,
            samplesheet=samplesheet,
            jobs=jobs,
            dask_scheduler=dask_scheduler,
            quiet=quiet,
            hgvs=lists,
        ).doc
    except VarannotError as exc:
        _die(exc)
    for w in doc.warnings:
        log.warning("warning: %s", w)
    if out_dir is None or output is not None:
        text = {Fmt.json: to_json, Fmt.tsv: calls_tsv, Fmt.variants_tsv: variants_tsv}[fmt](doc)
        if output:
            output.write_text(text)
        else:
            sys.stdout.write(text)
    if fail_on != FailOn.never:
        bad = {"resistant"} if fail_on == FailOn.resistant else {"resistant", "likely_resistant"}
        if any(c.call in bad for s in doc.samples for c in s.calls):
            raise typer.Exit(3)


@reference_app.command("fetch")
def reference_fetch(
    build: Annotated[BuildOpt, typer.Option(help="genome build")] = BuildOpt.GRCh38,
    out: Annotated[Path, typer.Option("--out", help="output directory")] = Path(
        "varannot-reference"
    ),
    base_url: Annotated[
        str | None,
        typer.Option(
            help="E-utilities base URL or file:// mirror (default: $VARANNOT_EUTILS_URL or NCBI)"
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
    fasta: Annotated[Path, typer.Option("--fasta", "-f")],
    build: Annotated[BuildOpt | None, typer.Option()] = None,
) -> None:
    """Check that the FASTA matches the transcript models and build (start/stop codons, no internal stops, REF coverage)."""
    from .annotate import Annotator
    from .reference import FastaReference

    try:
        ref = FastaReference(fasta, build.value if build else None)  # type: ignore[arg-type]
        b = (build.value if build else None) or ref.build
        if b is None:
            _die("cannot tell the build from the FASTA; pass --build")
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
    kb: Annotated[list[Path] | None, typer.Option("--kb")] = None,
    kb_replace: Annotated[bool, typer.Option()] = False,
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
    files: Annotated[list[Path], typer.Argument(help="knowledge-base tables to validate")],
    fasta: Annotated[
        Path | None,
        typer.Option(
            "--fasta", "-f", help="check residues against proteins translated from this FASTA"
        ),
    ] = None,
    build: Annotated[BuildOpt | None, typer.Option()] = None,
) -> None:
    """Validate site knowledge-base tables (residues, genes, drugs, SO terms, duplicates)."""
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
        typer.Option("--fasta", "-f", help="reference FASTA (repeat for several builds)"),
    ],
    build: Annotated[
        list[BuildOpt] | None,
        typer.Option(help="build of each --fasta, in order (detected when omitted)"),
    ] = None,
    kb: Annotated[list[Path] | None, typer.Option("--kb", help="site knowledge-base table")] = None,
    kb_replace: Annotated[bool, typer.Option(help="use only the --kb tables")] = False,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="background job workers")] = 1,
    data_dir: Annotated[
        Path, typer.Option(help="where jobs, uploads and the SQLite database live")
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
