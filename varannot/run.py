"""Whole sequencing runs: expand inputs (directories, samplesheets), read them, write a report.

A run directory may mix VCFs and traces; sample names come from VCF headers, trace names or a
samplesheet. Reading is per file (parallel with ``--jobs``); annotation and calls happen once
in the parent so output order is deterministic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from .api import Engine, RunOptions, group_inputs, is_trace
from .errors import InputError
from .knowledge import KnowledgeBase
from .models import Build, InputBatch
from .schema import ResultDocument

log = logging.getLogger("varannot")
INPUT_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf", ".ab1", ".abi", ".scf")


def expand_inputs(inputs: Sequence[str | Path]) -> list[str]:
    """Directories become their VCF/BCF/trace files (sorted); other paths stay as given."""
    out: list[str] = []
    for item in inputs:
        p = Path(item)
        if str(item) != "-" and p.is_dir():
            found = sorted(
                str(f)
                for f in p.rglob("*")
                if f.is_file() and f.name.lower().endswith(INPUT_SUFFIXES)
            )
            if not found:
                raise InputError("no VCF, BCF or trace files in this directory", source=str(p))
            out.extend(found)
        else:
            out.append(str(item))
    return out


def read_all(engine: Engine, inputs: Sequence[str], opts: RunOptions) -> list[InputBatch]:
    batches: list[InputBatch] = []
    for kind, group in group_inputs(inputs, opts.trace_sample):
        log.info("reading %s", ", ".join(str(g) for g in group))
        if kind == "vcf":
            batches.append(engine.read(group[0], opts))
        else:
            batches.append(engine.read_traces(group, kind.split(":", 1)[1], opts))
    return batches


def run_inputs(
    inputs: Sequence[str | Path],
    *,
    fasta: str | Path,
    build: Build | None,
    kb: KnowledgeBase,
    options: RunOptions,
    out_dir: Path | None = None,
    samplesheet: Path | None = None,
    jobs: int = 1,
    dask_scheduler: str | None = None,
    quiet: bool = False,
) -> ResultDocument:
    files = expand_inputs(inputs)
    engine = Engine(fasta, build, kb)
    if any(is_trace(f) for f in files) and options.plot_dir is None and out_dir is not None:
        options.plot_dir = out_dir / "plots"
    batches = read_all(engine, files, options)
    doc = engine.run(batches, options)
    if out_dir is not None:
        from .writers import calls_tsv, to_json, variants_tsv

        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "results.json").write_text(to_json(doc))
        (out_dir / "calls.tsv").write_text(calls_tsv(doc))
        (out_dir / "variants.tsv").write_text(variants_tsv(doc))
    return doc
