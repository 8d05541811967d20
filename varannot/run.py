"""Whole sequencing runs: expand inputs, name samples, read files in parallel, write a run folder.

A lab's run is a folder of VCFs and Sanger traces, sometimes with a samplesheet. This module
turns it into *units* (one VCF, or the traces of one sample), reads the units serially, in a
local process pool (``--jobs``) or on a Dask cluster (``--dask-scheduler``), and merges the
batches back **in input order** so every output is byte-identical whatever the parallelism.

Reading (VCF parsing, trace alignment and calling, plots) is where the time goes, so that is
what runs in the workers; each worker builds its own :class:`~varannot.api.Engine` once. The
parent then annotates, merges same-codon haplotypes and calls with ``Engine.run``: a few
thousand in-gene alleles cost well under a second there (``benchmarks/run_throughput.py``
prints the split), and keeping it in one place keeps the haplotype merge across a sample's
files exact.

Sample names come from the VCF header, the trace file names (``S1.F.ab1`` and ``S1.R.ab1`` are
the reads of ``S1``) or the samplesheet. The same name from two units is an error naming both
files, unless the samplesheet gave that name to both on purpose (that is how a sample's NGS VCF
and its Sanger confirmation, or split VCFs, become one sample).
"""

from __future__ import annotations

import csv
import gzip
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .api import (
    ALIGNMENT_SUFFIXES,
    MAF_SUFFIXES,
    TRACE_SUFFIXES,
    VCF_SUFFIXES,
    Engine,
    RunOptions,
    is_trace,
)
from .errors import InputError, KnowledgeBaseError, VarannotError
from .knowledge import KnowledgeBase, check_disease
from .models import Build, InputBatch
from .schema import CallOut, InputSummary, ResultDocument, SampleOut, VariantOut

if TYPE_CHECKING:
    from .readers.hgvs import VariantEntry
    from .writers import StreamStats

log = logging.getLogger("varannot")
INPUT_SUFFIXES = tuple(
    dict.fromkeys(VCF_SUFFIXES + TRACE_SUFFIXES + MAF_SUFFIXES + ALIGNMENT_SUFFIXES)
)
# Progress bars only for runs of more than this many units: a bar for two files is noise.
PROGRESS_MIN_UNITS = 3


# --------------------------------------------------------------------------------------------
# Inputs: directories, samplesheet, units
# --------------------------------------------------------------------------------------------


def _is_input_file(f: Path) -> bool:
    return f.is_file() and not f.name.startswith(".") and f.name.lower().endswith(INPUT_SUFFIXES)


def expand_inputs(inputs: Sequence[str | Path], exclude: Path | None = None) -> list[str]:
    """Directories become their VCF/BCF/trace files (recursively, sorted); files stay as given.

    ``exclude`` (the output folder) is never searched, so re-running a command whose
    ``--out-dir`` lies inside the run folder does not read its own annotated VCFs back in.
    """
    skip = exclude.resolve() if exclude is not None else None
    out: list[str] = []
    for item in inputs:
        p = Path(item)
        if str(item) != "-" and p.is_dir():
            found = sorted(
                str(f)
                for f in p.rglob("*")
                if _is_input_file(f) and (skip is None or not f.resolve().is_relative_to(skip))
            )
            if not found:
                raise InputError("no VCF, BCF or trace files in this directory", source=str(p))
            out.extend(found)
        else:
            out.append(str(item))
    seen: dict[str, str] = {}
    for f in out:
        key = f if f == "-" else str(Path(f).resolve())
        if key in seen:
            raise InputError(f"given twice (also as {seen[key]})", source=f)
        seen[key] = f
    return out


@dataclass(frozen=True)
class SheetEntry:
    """One samplesheet row: which sample a file belongs to (and which VCF column, if several)."""

    sample: str
    file: str
    line: int
    vcf_sample: str | None = None
    disease: str | None = None  # OncoTree code (None: not given)


@dataclass
class Samplesheet:
    path: Path
    entries: list[SheetEntry]

    def files(self) -> list[str]:
        """The files the sheet lists (relative to it), for a run given only ``--samplesheet``."""
        out = []
        for e in self.entries:
            p = Path(e.file)
            out.append(str(p if p.is_absolute() else self.path.parent / p))
        return list(dict.fromkeys(out))

    def match(self, files: Sequence[str]) -> tuple[dict[str, SheetEntry], list[str]]:
        """Map input files to rows; return (file -> row, warnings for rows matching no input).

        A row's ``file`` is looked up relative to the samplesheet, then by bare file name among
        the inputs (sheets usually list names, not paths); an ambiguous bare name is an error.
        """
        by_path = {str(Path(f).resolve()): f for f in files if f != "-"}
        by_name: dict[str, list[str]] = {}
        for f in files:
            by_name.setdefault(Path(f).name, []).append(f)
        found: dict[str, SheetEntry] = {}
        warnings: list[str] = []
        for e in self.entries:
            cand = Path(e.file)
            if not cand.is_absolute():
                cand = self.path.parent / cand
            hit = by_path.get(str(cand.resolve()))
            if hit is None:
                names = by_name.get(Path(e.file).name, [])
                if len(names) > 1:
                    raise InputError(
                        f"{e.file!r} matches several inputs ({', '.join(names)}); give its path",
                        source=str(self.path),
                        record=f"line {e.line}",
                    )
                hit = names[0] if names else None
            if hit is None:
                warnings.append(
                    f"samplesheet {self.path.name} line {e.line}: {e.file} is not among the "
                    f"inputs; sample {e.sample} was not analysed"
                )
                continue
            if hit in found:
                raise InputError(
                    f"{hit} is listed twice (lines {found[hit].line} and {e.line})",
                    source=str(self.path),
                    record=f"line {e.line}",
                )
            found[hit] = e
        return found, warnings


_SHEET_COLUMNS = {
    "sample": ("sample", "sample_id", "sample_name"),
    "file": ("file", "path", "filename", "file_name"),
    "vcf_sample": ("vcf_sample", "vcf_column"),
    "disease": ("disease", "oncotree", "oncotree_code"),
}


def read_samplesheet(path: str | Path) -> Samplesheet:
    """Read a CSV (or TSV) with columns ``sample,file`` and optionally ``vcf_sample``.

    ``vcf_sample`` picks one column of a multi-sample VCF (e.g. the tumour of a tumour/normal
    pair); without it a multi-sample VCF keeps all columns, the tumour named ``sample`` and the
    others ``sample/COLUMN``. Lines starting with ``#`` are comments.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the samplesheet: {exc}", source=str(p)) from exc
    numbered = [
        (i, ln)
        for i, ln in enumerate(text.splitlines(), 1)
        if ln.strip() and not ln.startswith("#")
    ]
    if not numbered:
        raise InputError("the samplesheet is empty", source=str(p))
    delim = "\t" if "\t" in numbered[0][1] else ("," if "," in numbered[0][1] else ";")
    rows = list(csv.reader([ln for _, ln in numbered], delimiter=delim))
    header = [h.strip().lower() for h in rows[0]]
    col: dict[str, int] = {}
    for key, names in _SHEET_COLUMNS.items():
        for n in names:
            if n in header:
                col[key] = header.index(n)
                break
    missing = [k for k in ("sample", "file") if k not in col]
    if missing:
        raise InputError(
            f"needs columns 'sample' and 'file'; missing {', '.join(missing)} "
            f"(header: {', '.join(header)})",
            source=str(p),
            record=f"line {numbered[0][0]}",
        )
    entries: list[SheetEntry] = []
    for (line, _), row in zip(numbered[1:], rows[1:], strict=True):

        def cell(key: str, row: list[str] = row) -> str:
            i = col.get(key)
            return row[i].strip() if i is not None and i < len(row) else ""

        sample, file = cell("sample"), cell("file")
        if not sample or not file:
            raise InputError(
                "a row needs both a sample and a file", source=str(p), record=f"line {line}"
            )
        disease = check_disease(cell("disease"), source=str(p), record=f"line {line}")
        entries.append(SheetEntry(sample, file, line, cell("vcf_sample") or None, disease))
    return Samplesheet(p, entries)


@dataclass(frozen=True)
class Unit:
    """One piece of work: a VCF file, or the trace files of one sample.

    ``sample`` is the name the samplesheet or ``--sample`` gives (None: the file decides);
    ``explicit`` says the name was given on purpose, which is what allows two units to share it.
    ``paths`` are as the user gave them (they name the files in every output).
    """

    index: int
    kind: Literal["vcf", "trace"]
    paths: tuple[str, ...]
    sample: str | None = None
    vcf_sample: str | None = None
    explicit: bool = False

    @property
    def label(self) -> str:
        return ", ".join(self.paths)


def plan_units(
    files: Sequence[str], sheet: dict[str, SheetEntry], trace_sample: str | None = None
) -> list[Unit]:
    """Group files into units, ordered by each unit's first file (the output order).

    A trace's sample is the samplesheet's (or ``--sample``), else its file name up to the first
    dot (``S1.F.ab1`` and ``S1.R.ab1`` are the reads of ``S1``); two files that differ only in
    their trace suffix (``het.ab1``, ``het.scf``) are different reads and keep their whole
    file names as sample names.
    """
    units: list[Unit] = []
    trace_group: dict[str, int] = {}
    bases: dict[str, int] = {}
    for f in files:
        if is_trace(f):
            base = _trace_base(f)
            bases[base] = bases.get(base, 0) + 1
    for f in files:
        if f != "-" and not Path(f).is_file():
            raise InputError("file not found" if not Path(f).exists() else "not a file", source=f)
        entry = sheet.get(f)
        if is_trace(f):
            own = Path(f).name
            if bases.get(_trace_base(f), 0) < 2:
                own = own.split(".")[0] or own
            name = entry.sample if entry else (trace_sample or own)
            explicit = entry is not None or trace_sample is not None
            if name in trace_group:
                i = trace_group[name]
                u = units[i]
                units[i] = replace(u, paths=(*u.paths, f), explicit=u.explicit or explicit)
            else:
                trace_group[name] = len(units)
                units.append(Unit(len(units), "trace", (f,), name, None, explicit))
        else:
            units.append(
                Unit(
                    len(units),
                    "vcf",
                    (f,),
                    entry.sample if entry else None,
                    entry.vcf_sample if entry else None,
                    entry is not None,
                )
            )
    return units


def _trace_base(path: str) -> str:
    name = Path(path).name
    for suf in TRACE_SUFFIXES:
        if name.lower().endswith(suf):
            return str(Path(path).parent / name[: -len(suf)])
    return str(Path(path))


@dataclass(frozen=True)
class UnitFailure:
    """A unit that could not be read: the run goes on; its samples are ``not_assessed``."""

    unit: Unit
    error: str

    @property
    def samples(self) -> list[str]:
        """The names its samples would have had (samplesheet, --sample, else the file)."""
        if self.unit.sample is not None:
            return [self.unit.sample]
        return [_vcf_stem(self.unit.paths[0]) if self.unit.paths != ("-",) else "stdin"]


def read_unit_safe(engine: Engine, unit: Unit, opts: RunOptions) -> InputBatch | UnitFailure:
    """``read_unit``, with a file's own problem returned as a :class:`UnitFailure`.

    Problems of the file (unreadable, wrong build, malformed) end that unit only; a knowledge
    base that changed mid-run, or a bug, still ends the run.
    """
    try:
        return read_unit(engine, unit, opts)
    except KnowledgeBaseError:
        raise
    except VarannotError as exc:
        return UnitFailure(unit, str(exc))
    except OSError as exc:
        return UnitFailure(unit, f"{unit.label}: cannot read: {exc.strerror or exc}")


def _rename_samples(batch: InputBatch, unit: Unit) -> None:
    """Give a VCF's columns the samplesheet name (tumour -> name, others -> name/COLUMN)."""
    if unit.sample is None or not batch.samples:
        return
    if len(batch.samples) == 1:
        mapping = {batch.samples[0]: unit.sample}
    else:
        tumor = batch.details.get("tumor_sample")
        mapping = {s: unit.sample if s == tumor else f"{unit.sample}/{s}" for s in batch.samples}
    batch.samples = [mapping[s] for s in batch.samples]
    batch.coverage = {mapping.get(s, s): v for s, v in batch.coverage.items()}
    for ob in batch.observations:
        ob.sample = mapping.get(ob.sample, ob.sample)
    batch.details["sample_names_in_file"] = {new: old for old, new in mapping.items()}


def read_unit(engine: Engine, unit: Unit, opts: RunOptions) -> InputBatch:
    """Read one unit with ``engine`` (in whichever process runs it)."""
    if unit.kind == "trace":
        return engine.read_traces(list(unit.paths), unit.sample, opts)
    uopts = opts
    if unit.vcf_sample is not None:
        uopts = replace(opts, samples=[unit.vcf_sample], tumor=None)
    batch = engine.read(unit.paths[0], uopts)
    _rename_samples(batch, unit)
    return batch


class _Merger:
    """Collects batches as they finish and checks sample names in input order.

    Checking in input order (not completion order) makes the duplicate-name error name the
    same two files whatever the parallelism; checking as results arrive stops a long run early.
    """

    def __init__(self, units: Sequence[Unit]):
        self.units = units
        self.batches: list[InputBatch | UnitFailure | None] = [None] * len(units)
        self.next = 0
        self.owner: dict[str, Unit] = {}

    def add(self, index: int, batch: InputBatch | UnitFailure) -> None:
        self.batches[index] = batch
        if isinstance(batch, UnitFailure):
            log.warning("could not read %s", batch.error)
        while self.next < len(self.units) and self.batches[self.next] is not None:
            done = self.batches[self.next]
            if isinstance(done, InputBatch):
                self._check(self.units[self.next], done)
            self.next += 1

    def _check(self, unit: Unit, batch: InputBatch) -> None:
        for s in batch.samples:
            first = self.owner.get(s)
            if first is not None and first is not unit and not (first.explicit and unit.explicit):
                raise InputError(
                    f"duplicate sample name {s!r}: in {first.label} and in {unit.label}; "
                    "give them distinct names with --samplesheet (columns sample,file)"
                )
            self.owner.setdefault(s, unit)

    def result(self) -> list[InputBatch]:
        assert self.next == len(self.units)
        return [b for b in self.batches if isinstance(b, InputBatch)]

    def failures(self) -> list[UnitFailure]:
        return [b for b in self.batches if isinstance(b, UnitFailure)]


# --------------------------------------------------------------------------------------------
# Executors: serial, local process pool, Dask
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineSpec:
    """What a worker needs to build the same Engine as the parent.

    The knowledge base travels as its recipe (table paths, shipped table or not, sha256), not
    as an object: it is immutable and not picklable, and a recipe is a few bytes per task. The
    worker checks the sha256, so a table edited mid-run fails loudly instead of mixing versions.
    """

    fasta: str
    build: Build | None
    kb_tables: tuple[str, ...]
    kb_replace: bool
    kb_sha256: str
    build_source: str = "--build"
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def of(
        cls,
        fasta: str | Path,
        build: Build | None,
        kb: KnowledgeBase,
        absolute: bool,
        build_source: str = "--build",
    ) -> EngineSpec:
        shipped = [t.path for t in kb.tables if t.path.startswith("varannot.data/")]
        extra = [t.path for t in kb.tables if not t.path.startswith("varannot.data/")]
        if absolute:
            fasta = Path(fasta).resolve()
        return cls(
            str(fasta),
            build,
            tuple(str(Path(p).resolve()) for p in extra),
            not shipped,
            kb.sha256,
            build_source,
        )

    def make(self) -> Engine:
        kb = KnowledgeBase.load(self.kb_tables, replace=self.kb_replace)
        if kb.sha256 != self.kb_sha256:
            raise KnowledgeBaseError(
                "a knowledge-base table changed while the run was starting (sha256 "
                f"{kb.sha256[:12]} in a worker, {self.kb_sha256[:12]} in the parent)",
                source=",".join(self.kb_tables) or "knowledge base",
            )
        engine = Engine(self.fasta, self.build, kb)
        engine.build_source = self.build_source
        return engine


_worker_engine: Engine | None = None
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _init_worker(spec: EngineSpec) -> None:
    """Process-pool initializer: build the worker's Engine once, not once per file."""
    global _worker_engine
    _worker_engine = spec.make()


def _pool_read(unit: Unit, opts: RunOptions) -> InputBatch | UnitFailure:
    assert _worker_engine is not None, "worker started without _init_worker"
    return read_unit_safe(_worker_engine, unit, opts)


def _cached_engine(spec: EngineSpec) -> Engine:
    """One Engine per spec per Dask worker process (threads share it; keep the last two)."""
    with _engines_lock:
        eng = _engines.get(spec.token)
        if eng is None:
            eng = spec.make()
            while len(_engines) >= 2:
                _engines.pop(next(iter(_engines)))
            _engines[spec.token] = eng
        return eng


def _dask_read(spec: EngineSpec, unit: Unit, opts: RunOptions) -> InputBatch | UnitFailure:
    """Dask task: read a unit from absolute paths, then give it back the user's file names."""
    absolute = replace(unit, paths=tuple(str(Path(p).resolve()) for p in unit.paths))
    batch = read_unit_safe(_cached_engine(spec), absolute, opts)
    names = dict(zip(absolute.paths, unit.paths, strict=True))
    if isinstance(batch, UnitFailure):
        error = batch.error
        for a, u in names.items():
            error = error.replace(a, u)
        return UnitFailure(unit, error)
    _relabel(batch, names)
    return batch


def _relabel(batch: InputBatch, names: dict[str, str]) -> None:
    """Replace absolute paths (what a remote worker needs) by the names the user gave."""
    batch.source = ",".join(names.get(s, s) for s in batch.source.split(","))
    for ob in batch.observations:
        ob.source = names.get(ob.source, ob.source)
    traces = batch.details.get("traces")
    if isinstance(traces, list):
        for t in traces:
            if isinstance(t, dict) and isinstance(t.get("path"), str):
                t["path"] = names.get(t["path"], t["path"])


def _plots_relative_to(batches: Sequence[InputBatch], out_dir: Path) -> None:
    """Plot paths inside the run folder become relative to it (``plots/S1__...png``).

    The folder is then self-describing wherever it is moved, and the document does not depend
    on the working directory or on whether a Dask worker (absolute paths) drew the plot.
    """
    root = out_dir.resolve()
    for batch in batches:
        plots = batch.details.get("plots")
        if not isinstance(plots, list):
            continue
        for plot in plots:
            if isinstance(plot, dict) and isinstance(plot.get("path"), str):
                path = Path(plot["path"]).resolve()
                if path.is_relative_to(root):
                    plot["path"] = path.relative_to(root).as_posix()


def _mp_context(traces: bool) -> Any:
    """forkserver where there is one: fork from a process with threads (rich's refresh thread,
    Dask) can deadlock, and spawn re-imports everything for every worker.

    The server imports the readers (and matplotlib, for trace plots) once before forking, so
    workers start with them loaded instead of each importing them (~0.6 s per worker).
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    preload = ["varannot.run", "varannot.readers.vcf"]
    if traces:
        preload += ["varannot.sanger", "matplotlib.figure", "matplotlib.backends.backend_agg"]
    ctx.set_forkserver_preload(preload)
    return ctx


def _read_serial(
    engine: Engine,
    units: Sequence[Unit],
    opts: RunOptions,
    merger: _Merger,
    tick: Callable[[], None],
) -> None:
    for u in units:
        log.debug("reading %s", u.label)
        merger.add(u.index, read_unit_safe(engine, u, opts))
        tick()


def _read_pool(
    spec: EngineSpec,
    units: Sequence[Unit],
    opts: RunOptions,
    jobs: int,
    merger: _Merger,
    tick: Callable[[], None],
) -> None:
    # imported here: a --jobs 1 run never pays for multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    ex = ProcessPoolExecutor(
        max_workers=min(jobs, len(units)),
        mp_context=_mp_context(any(u.kind == "trace" for u in units)),
        initializer=_init_worker,
        initargs=(spec,),
    )
    try:
        futures: dict[Future[InputBatch | UnitFailure], int] = {
            ex.submit(_pool_read, u, opts): u.index for u in units
        }
        for fut in as_completed(futures):
            merger.add(futures[fut], fut.result())
            tick()
    except BrokenProcessPool as exc:
        raise InputError(
            f"a worker process died while reading ({exc}); run with --jobs 1 to see which file"
        ) from exc
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _read_dask(
    address: str,
    spec: EngineSpec,
    units: Sequence[Unit],
    opts: RunOptions,
    merger: _Merger,
    tick: Callable[[], None],
) -> None:
    """Submit one task per unit to an existing Dask cluster (paths must be visible to it)."""
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError as exc:
        raise InputError(
            "--dask-scheduler needs the 'distributed' package (pip install 'dask[distributed]')",
            source="--dask-scheduler",
        ) from exc
    try:
        # connect timeout: dask's distributed.comm.timeouts.connect (env
        # DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT), 30 s unless configured
        client = Client(address, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(
            f"cannot reach the Dask scheduler at {address}: {exc}", source="--dask-scheduler"
        ) from exc
    if opts.plot_dir is not None:
        opts = replace(opts, plot_dir=opts.plot_dir.resolve())
    futures: list[Any] = []
    try:
        futures = [
            client.submit(
                _dask_read, spec, u, opts, pure=False, key=f"varannot-{spec.token}-{u.index}"
            )
            for u in units
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in dask_completed(futures, loop=client.loop):
            merger.add(units[index[fut.key]].index, fut.result())
            tick()
    finally:
        client.cancel(futures)
        client.close()


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    """A rich progress bar on stderr, only on a terminal (a piped log gets the summary only)."""
    if not enabled or total <= PROGRESS_MIN_UNITS:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda: None
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("reading", total=total)
        yield lambda: bar.advance(task)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """A finished run: the document plus what produced it (for writers and the benchmark)."""

    doc: ResultDocument
    units: list[Unit]
    batches: list[InputBatch]
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)
    failures: list[UnitFailure] = field(default_factory=list)
    # set when the samples were streamed to JSON Lines (then ``doc.samples`` may be empty)
    streamed: StreamStats | None = None


def execute_run(
    inputs: Sequence[str | Path],
    *,
    fasta: str | Path,
    build: Build | None,
    kb: KnowledgeBase,
    options: RunOptions,
    out_dir: Path | None = None,
    stream: Path | None = None,
    samplesheet: Path | None = None,
    jobs: int = 1,
    dask_scheduler: str | None = None,
    quiet: bool = False,
    hgvs: Mapping[str, Sequence[VariantEntry]] | None = None,
) -> RunResult:
    """Read, annotate, call and (with ``out_dir``) write a whole run (the CLI's entry point).

    ``jobs`` > 1 reads files in that many worker processes (0: one per core);
    ``dask_scheduler`` (``tcp://HOST:PORT``) sends the reading to a Dask cluster instead, whose
    workers must see the input, FASTA and output paths. Output order never depends on either.
    ``hgvs`` maps a source (``--hgvs``, a list file) to its entries: one more batch each,
    after the files; an entry's sample may also be in a file (its variants then add up).
    An input that cannot be read is a :class:`UnitFailure` in ``RunResult.failures`` (its
    samples ``not_assessed``) and the run goes on. Raises :class:`~varannot.errors.InputError`
    for duplicate samples, missing command-line files, or when no input could be read.
    ``stream`` writes the document as JSON Lines (:func:`~varannot.writers.write_jsonl`);
    without ``out_dir`` or unreadable inputs, samples go to it one by one and
    ``doc.samples`` stays empty, so memory does not grow with the number of samples.
    """
    t0 = time.perf_counter()
    sheet = read_samplesheet(samplesheet) if samplesheet is not None else None
    missing: list[str] = []
    if not inputs and sheet is None and not hgvs:
        raise InputError("no inputs: give files, a run directory, --samplesheet or --hgvs")
    if not inputs and sheet is not None:
        # the sheet is the list of inputs: a file it names that is absent is that sample's
        # failure, not the run's
        inputs = []
        for f in sheet.files():
            (inputs if Path(f).is_file() else missing).append(f)
    files = expand_inputs(inputs, exclude=out_dir) if inputs else []
    sheet_warnings: list[str] = []
    entries: dict[str, SheetEntry] = {}
    if sheet is not None:
        entries, sheet_warnings = sheet.match(files + missing)
    units = plan_units(files, entries, options.trace_sample)
    missing_units = [
        Unit(len(units) + i, "trace" if is_trace(f) else "vcf", (f,), e.sample, None, True)
        for i, f in enumerate(missing)
        if (e := entries.get(f)) is not None
    ]
    engine = Engine(fasta, build, kb)
    opts = replace(options)
    sheet_diseases = {e.sample: e.disease for e in entries.values() if e.disease is not None}
    if sheet_diseases:
        opts.sample_diseases = {**sheet_diseases, **opts.sample_diseases}
    if out_dir is not None and opts.plot_dir is None and any(u.kind == "trace" for u in units):
        opts.plot_dir = out_dir / "plots"
    t_setup = time.perf_counter()

    merger = _Merger(units)
    stdin_units = [u for u in units if u.paths == ("-",)]
    file_units = [u for u in units if u.paths != ("-",)]
    jobs = jobs if jobs > 0 else (os.cpu_count() or 1)
    with _progress(len(units), not quiet) as tick:
        # stdin can only be read here, in the parent.
        _read_serial(engine, stdin_units, opts, merger, tick)
        if dask_scheduler:
            spec = EngineSpec.of(fasta, engine.build, kb, True, engine.build_source)
            _read_dask(dask_scheduler, spec, file_units, opts, merger, tick)
        elif jobs > 1 and len(file_units) > 1:
            spec = EngineSpec.of(fasta, engine.build, kb, False, engine.build_source)
            _read_pool(spec, file_units, opts, jobs, merger, tick)
        else:
            _read_serial(engine, file_units, opts, merger, tick)
    batches = merger.result()
    for source, listed in (hgvs or {}).items():
        batches.append(engine.read_hgvs(listed, source=source))
    failures = merger.failures() + [
        UnitFailure(u, f"{u.label}: file not found") for u in missing_units
    ]
    units = units + missing_units
    if failures and not batches:
        # nothing could be read: that is an unusable input (exit 2), not a run with gaps
        more = len(failures) - 1
        raise InputError(
            failures[0].error
            + (f" (and {more} more input{'s' * (more != 1)} could not be read)" if more else "")
        )
    if out_dir is not None:
        _plots_relative_to(batches, out_dir)
    t_read = time.perf_counter()

    if stream is not None and out_dir is None and not failures:
        # cohorts: one sample at a time from the engine to the file, never the whole document
        from .writers import write_jsonl

        doc, samples = engine.run_stream(batches, opts)
        doc.warnings.extend(sheet_warnings)
        with open(stream, "w", encoding="utf-8") as fh:
            streamed = write_jsonl(fh, doc, samples)
        t_call = time.perf_counter()
        result = RunResult(doc, units, batches, failures=failures, streamed=streamed)
    else:
        doc = engine.run(batches, opts)
        doc.warnings.extend(sheet_warnings)
        add_failures(doc, engine, units, failures, opts)
        t_call = time.perf_counter()
        result = RunResult(doc, units, batches, failures=failures)
        if out_dir is not None:
            result.outputs = write_run_folder(doc, units, out_dir)
        if stream is not None:
            from .writers import write_jsonl

            with open(stream, "w", encoding="utf-8") as fh:
                result.streamed = write_jsonl(fh, doc, doc.samples)
    t_write = time.perf_counter()
    result.timings = {
        "setup": t_setup - t0,
        "read": t_read - t_setup,
        "annotate_call": t_call - t_read,
        "write": t_write - t_call,
        "total": t_write - t0,
    }
    if not quiet:
        if result.streamed is not None and not doc.samples:
            calls = ", ".join(f"{k} {v}" for k, v in sorted(result.streamed.calls.items()))
            sys.stderr.write(
                f"{result.streamed.samples} samples streamed to {stream} (JSON Lines); "
                f"calls: {calls or 'none'}\n"
            )
        else:
            sys.stderr.write(summary_text(result, out_dir))
    return result


def add_failures(
    doc: ResultDocument,
    engine: Engine,
    units: Sequence[Unit],
    failures: Sequence[UnitFailure],
    opts: RunOptions,
) -> None:
    """Put units that could not be read into the document, where a reader looks for them.

    Each becomes an input with its ``error`` (at its place among the inputs, so inputs and
    units stay paired) and its samples get ``not_assessed`` for every drug with the reason.
    A sample that another file did provide keeps what that file showed, but a "no known
    resistance" it would have had becomes ``not_assessed``: the unread file might hold the
    resistance allele.
    """
    if not failures:
        return
    failed = {f.unit.index: f for f in failures}
    read = iter(doc.inputs)
    inputs: list[InputSummary] = []
    for u in units:
        f = failed.get(u.index)
        if f is None:
            inputs.append(next(read))
        else:
            inputs.append(
                InputSummary(
                    source=",".join(u.paths),
                    kind=u.kind,
                    samples=f.samples,
                    records_read=0,
                    records_outside_genes=0,
                    error=f.error,
                )
            )
    doc.inputs = inputs + list(read)  # HGVS lists come after the units
    # the drugs this run calls (a sample with nothing seen lists each of them)
    drugs = [(c.drug, c.drug_class) for c in engine._sample("-", [], [], None, opts).calls]
    by_name = {s.sample: s for s in doc.samples}
    for f in failures:
        reason = f"not assessed: {f.error}"
        for name in f.samples:
            s = by_name.get(name)
            if s is None:
                s = SampleOut(
                    sample=name,
                    sources=[",".join(f.unit.paths)],
                    calls=[
                        CallOut(
                            drug=d,
                            drug_class=dc,
                            call="not_assessed",
                            coverage="not_covered",
                            caveats=[reason],
                        )
                        for d, dc in drugs
                    ],
                )
                doc.samples.append(s)
                by_name[name] = s
                continue
            s.sources.append(",".join(f.unit.paths))
            for c in s.calls:
                c.caveats.append(reason)
                if c.call == "no_known_resistance":
                    c.call = "not_assessed"


def summary_text(result: RunResult, out_dir: Path | None = None) -> str:
    """The end-of-run lines for stderr: what was read, what was skipped and why, the calls."""
    doc = result.doc
    n_vcf = sum(1 for u in result.units if u.kind != "trace")
    n_traces = sum(len(u.paths) for u in result.units if u.kind == "trace")
    n_files = n_vcf + n_traces
    variants = sum(len(s.variants) for s in doc.samples)
    excluded = sum(len(s.excluded_variants) for s in doc.samples)
    records = sum(i.records_read for i in doc.inputs)
    skipped: dict[str, int] = {}
    for i in doc.inputs:
        for sk in i.skipped:
            skipped[sk.reason] = skipped.get(sk.reason, 0) + sk.count
    lines = [
        f"{len(doc.samples)} sample{'s' * (len(doc.samples) != 1)} from {n_files} "
        f"file{'s' * (n_files != 1)} ({n_vcf} VCF, {n_traces} trace{'s' * (n_traces != 1)}); "
        f"{records} records read, {variants} variant{'s' * (variants != 1)} in the genes"
        + (f" (+{excluded} excluded by FILTER)" if excluded else "")
        + f", {doc.variants_outside_genes} outside the genes"
    ]
    if skipped:
        total = sum(skipped.values())
        why = "; ".join(
            f"{r}: {n}" for r, n in sorted(skipped.items(), key=lambda x: (-x[1], x[0]))
        )
        lines.append(f"skipped {total} record{'s' * (total != 1)}: {why}")
    else:
        lines.append("skipped 0 records")
    failed = [
        f"{s.sample}: {f.get('trace')} ({f.get('reason')})"
        for s in doc.samples
        for d in s.traces
        for f in (d.get("failed_traces") or [])  # type: ignore[attr-defined]
        if isinstance(f, dict)
    ]
    if failed:
        lines.append(
            f"{len(failed)} trace{'s' * (len(failed) != 1)} gave no evidence (their loci are "
            "not assessed): " + "; ".join(failed[:5]) + ("; ..." if len(failed) > 5 else "")
        )
    counts: dict[str, int] = {}
    for s in doc.samples:
        for c in s.calls:
            counts[c.call] = counts.get(c.call, 0) + 1
    order = ("resistant", "likely_resistant", "not_assessed", "no_known_resistance")
    lines.append("calls (sample x drug): " + ", ".join(f"{k} {counts.get(k, 0)}" for k in order))
    if result.failures:
        n = len(result.failures)
        lines.append(
            f"{n} input{'s' * (n != 1)} could not be read (their samples are not_assessed; "
            "exit code 4):"
        )
        lines.extend(f"  {f.error}" for f in result.failures)
    if out_dir is not None:
        lines.append(
            f"wrote {out_dir}/report.html, calls.tsv, evidence.tsv, variants.tsv, errors.tsv, "
            "results.json, variants.maf, vcf/"
        )
    return "".join(f"varannot: {ln}\n" for ln in lines)


# --------------------------------------------------------------------------------------------
# The run folder
# --------------------------------------------------------------------------------------------


def _safe_name(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in s)[:80] or "input"


def _vcf_stem(path: str) -> str:
    name = Path(path).name
    for suf in sorted(VCF_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suf):
            return name[: -len(suf)] or name
    return name


def _maf_stem(path: str) -> str:
    name = Path(path).name
    for suf in sorted(MAF_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suf):
            return name[: -len(suf)] or name
    return name


def _bam_stem(path: str) -> str:
    name = Path(path).name
    for suf in ALIGNMENT_SUFFIXES:
        if name.lower().endswith(suf):
            return name[: -len(suf)] or name
    return name


def _is_bcf(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(3)
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as gz:
            head = gz.read(3)
    return head == b"BCF"


def _atomic_text(path: Path, text: str) -> None:
    """Write then rename: a pipeline polling the folder never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_input_vcfs(doc: ResultDocument, units: Sequence[Unit], vcf_dir: Path) -> dict[str, Path]:
    """One annotated VCF per input (per trace group): ``source`` -> written path.

    ``doc.inputs`` is in unit order (the merger guarantees it), which is what pairs them.
    Names follow the input (``P001.vcf`` -> ``P001.annotated.vcf``; the traces of sample S ->
    ``S.traces.vcf``), with ``-2``, ``-3`` added when two inputs share a name.
    """
    from .vcfwriter import (
        allele_index,
        annotate_bcf,
        annotate_vcf_text,
        header_lines,
        index_vcf_gz,
        write_called_vcf,
    )

    vcf_dir.mkdir(parents=True, exist_ok=True)
    by_source: dict[str, list[tuple[str, VariantOut]]] = {}
    for s in doc.samples:
        for v in [*s.variants, *s.excluded_variants]:
            by_source.setdefault(v.source or "", []).append((s.sample, v))
    taken: set[str] = set()
    out: dict[str, Path] = {}

    def name(stem: str, suffix: str) -> Path:
        base, n = _safe_name(stem), 1
        while (cand := f"{base}{'' if n == 1 else f'-{n}'}{suffix}") in taken:
            n += 1
        taken.add(cand)
        return vcf_dir / cand

    # HGVS lists come after the units and have no input VCF to annotate
    for unit, inp in zip(units, doc.inputs[: len(units)], strict=True):
        if inp.error is not None:
            continue
        if unit.kind == "trace":
            rows = [r for p in unit.paths for r in by_source.get(p, [])]
            dst = name(unit.sample or inp.samples[0], ".traces.vcf")
            tmp = dst.with_name(f".{dst.name}.tmp")
            write_called_vcf(tmp, rows, inp.samples, doc, list(unit.paths))
        elif unit.paths == ("-",):
            dst = name("stdin", ".annotated.vcf")
            tmp = dst.with_name(f".{dst.name}.tmp")
            write_called_vcf(tmp, by_source.get(inp.source, []), inp.samples, doc, ["<stdin>"])
        elif inp.kind in ("maf", "reads"):  # no VCF to copy: the called alleles, VCF style
            stem = _maf_stem(unit.paths[0]) if inp.kind == "maf" else _bam_stem(unit.paths[0])
            dst = name(stem, ".annotated.vcf")
            tmp = dst.with_name(f".{dst.name}.tmp")
            write_called_vcf(tmp, by_source.get(inp.source, []), inp.samples, doc, [inp.source])
        else:
            src = Path(unit.paths[0])
            idx = allele_index(v for _, v in by_source.get(inp.source, []))
            extra = header_lines(doc, [inp.source])
            if _is_bcf(src):
                dst = name(_vcf_stem(unit.paths[0]), ".annotated.bcf")
                tmp = dst.with_name(f".{dst.name}.tmp")
                annotate_bcf(src, tmp, idx, extra)
            else:
                with src.open("rb") as fh:
                    gz = fh.read(2) == b"\x1f\x8b"
                dst = name(_vcf_stem(unit.paths[0]), ".annotated.vcf" + (".gz" if gz else ""))
                tmp = dst.with_name(f".{dst.name}.tmp")
                annotate_vcf_text(src, tmp, idx, extra)
        os.replace(tmp, dst)
        if dst.name.endswith(".vcf.gz"):
            index_vcf_gz(dst)
        out[inp.source] = dst
    return out


def write_run_folder(doc: ResultDocument, units: Sequence[Unit], out_dir: Path) -> dict[str, Path]:
    """calls.tsv, evidence.tsv, variants.tsv, errors.tsv, results.json, variants.maf, vcf/*,
    report.html (plots/ came from the readers). errors.tsv always exists: a header alone says no
    input failed.

    The report is written last, so its presence means the folder is complete.
    """
    from .maf import to_maf
    from .report import render_report
    from .writers import calls_tsv, coverage_tsv, errors_tsv, evidence_tsv, to_json, variants_tsv

    out_dir.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, Path] = {}
    for fname, fn in (
        ("calls.tsv", calls_tsv),
        ("evidence.tsv", evidence_tsv),
        ("variants.tsv", variants_tsv),
        ("errors.tsv", errors_tsv),
        ("results.json", to_json),
        ("variants.maf", to_maf),
    ):
        _atomic_text(out_dir / fname, fn(doc))
        outputs[fname] = out_dir / fname
    if any(s.coverage_source == "reads" for s in doc.samples):  # BAM/CRAM: depth per locus
        _atomic_text(out_dir / "coverage.tsv", coverage_tsv(doc))
        outputs["coverage.tsv"] = out_dir / "coverage.tsv"
    vcfs = write_input_vcfs(doc, units, out_dir / "vcf")
    for source, path in vcfs.items():
        outputs[f"vcf:{source}"] = path
    links = {src: p.relative_to(out_dir).as_posix() for src, p in vcfs.items()}
    report = render_report(
        doc,
        out_dir,
        links,
        ["calls.tsv", "evidence.tsv", "variants.tsv", "errors.tsv", "results.json", "variants.maf"],
    )
    _atomic_text(out_dir / "report.html", report)
    outputs["report.html"] = out_dir / "report.html"
    return outputs


__all__ = [
    "EngineSpec",
    "RunResult",
    "Samplesheet",
    "SheetEntry",
    "Unit",
    "write_input_vcfs",
    "write_run_folder",
    "execute_run",
    "expand_inputs",
    "plan_units",
    "read_samplesheet",
    "read_unit",
    "summary_text",
]
