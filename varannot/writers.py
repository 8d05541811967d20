"""Writers format a finished ``ResultDocument``; they never compute anything themselves."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

from .schema import DetectionLimitOut, ResultDocument, SampleOut

CALL_COLUMNS = [
    "sample", "drug", "drug_class", "call", "coverage", "rule_ids", "variants",
    "protein_changes", "protein_changes_legacy", "vaf", "levels", "citations", "uncovered_loci",
    "caveats", "kb_version", "kb_sha256", "disease",
]  # fmt: skip
VARIANT_COLUMNS = [
    "sample", "chrom", "pos", "ref", "alt", "gene", "transcript", "consequence", "hgvs_c",
    "hgvs_p", "protein_change", "hgvs_p_legacy", "protein_change_legacy", "genotype", "depth",
    "alt_depth", "vaf", "vaf_source", "filter", "flags", "rule_ids", "source", "record",
    "kb_version", "kb_sha256",
]  # fmt: skip


def to_json(doc: ResultDocument) -> str:
    return doc.model_dump_json(indent=2) + "\n"


@dataclass
class StreamStats:
    """What a streamed document held, for exit codes and the summary (the samples are gone)."""

    samples: int = 0
    calls: dict[str, int] = field(default_factory=dict)


def write_jsonl(out: TextIO, doc: ResultDocument, samples: Iterable[SampleOut]) -> StreamStats:
    """The document as JSON Lines, one sample at a time (memory flat in the number of samples).

    Line 1 is ``{"record": "document", ...}``: the document's fields without ``samples``
    (inputs, warnings, knowledge base, thresholds). Each further line is
    ``{"record": "sample", ...}``: one ``samples[]`` entry of the JSON document, in the same
    order. Reassembling the lines gives the JSON document.
    """
    head = doc.model_dump_json(exclude={"samples"})
    out.write('{"record":"document",' + head[1:] + "\n")
    stats = StreamStats()
    for s in samples:
        out.write('{"record":"sample",' + s.model_dump_json()[1:] + "\n")
        stats.samples += 1
        for c in s.calls:
            stats.calls[c.call] = stats.calls.get(c.call, 0) + 1
    return stats


def _fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ",".join(_fmt(x) for x in v)
    return str(v)


# OWASP CSV injection: a spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(text: str) -> str:
    """A TSV cell a spreadsheet shows as text: formula-leading cells get a leading ``'``.

    Sample names, FILTER values and file names come from the input, so ``=HYPERLINK(...)`` or
    ``+cmd|...`` must never reach Excel/LibreOffice as a formula. Plain numbers (``-0.5``)
    and a lone ``-`` are left alone. Every TSV writer goes through this function.
    """
    if text.startswith(_FORMULA_LEAD) and len(text) > 1 and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def tsv_rows(columns: list[str], rows: list[list[str]]) -> str:
    """Header plus rows as TSV text, every cell passed through :func:`safe_cell`."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow([safe_cell(c) for c in columns])
    for r in rows:
        w.writerow([safe_cell(c) for c in r])
    return buf.getvalue()


def _table(columns: list[str], rows: list[dict[str, object]]) -> str:
    return tsv_rows(columns, [[_fmt(r.get(c)) for c in columns] for r in rows])


def calls_tsv(doc: ResultDocument) -> str:
    """One row per sample x drug (the resistance calls)."""
    return _table(CALL_COLUMNS, call_rows(doc))


def call_rows(doc: ResultDocument) -> list[dict[str, object]]:
    """The rows of ``calls.tsv``, values unformatted (also ``varannot.Result.calls``)."""
    kbv = doc.knowledge_base.version if doc.knowledge_base else ""
    kbs = doc.knowledge_base.sha256 if doc.knowledge_base else ""
    rows: list[dict[str, object]] = []
    for s in doc.samples:
        for c in s.calls:
            # 'sensitivity retained' evidence explains a call but is not a finding to list
            ev = [e for e in c.evidence if e.effect != "sensitivity_retained"] or c.evidence
            rows.append(
                {
                    "sample": s.sample,
                    "disease": c.disease or "",
                    "drug": c.drug,
                    "drug_class": c.drug_class,
                    "call": c.call,
                    "coverage": c.coverage,
                    "rule_ids": list(dict.fromkeys(e.rule_id for e in ev)),
                    "variants": list(dict.fromkeys(e.hgvs_p for e in ev if e.hgvs_p)),
                    "protein_changes": list(
                        dict.fromkeys(e.protein_change for e in ev if e.protein_change)
                    ),
                    "protein_changes_legacy": list(
                        dict.fromkeys(
                            e.protein_change_legacy for e in ev if e.protein_change_legacy
                        )
                    ),
                    "vaf": list(dict.fromkeys(e.vaf for e in ev if e.vaf is not None)),
                    "levels": list(dict.fromkeys(e.level for e in ev)),
                    "citations": list(dict.fromkeys(x for e in ev for x in e.citations)),
                    "uncovered_loci": c.uncovered_loci,
                    "caveats": " | ".join(c.caveats),
                    "kb_version": kbv,
                    "kb_sha256": kbs,
                }
            )
    return rows


EVIDENCE_COLUMNS = [
    "sample", "disease", "variant", "protein_change", "protein_change_legacy", "vaf", "depth",
    "drugs", "rule_ids", "effects", "levels", "citations", "notes", "kb_version",
]  # fmt: skip


def evidence_tsv(doc: ResultDocument) -> str:
    """One row per sample x variant: its evidence once, with the drugs (and calls) it touches.

    The calls TSV is per drug; here an allele that matters for ten MDM2 inhibitors is one row,
    not ten. Variant-free evidence (none today) would be keyed by its rule.
    """
    kbv = doc.knowledge_base.version if doc.knowledge_base else ""
    rows: list[dict[str, object]] = []
    for s in doc.samples:
        by_var: dict[str, dict[str, object]] = {}
        for c in s.calls:
            for e in c.evidence:
                key = e.hgvs_p or e.protein_change or e.rule_id
                r = by_var.setdefault(
                    key,
                    {
                        "sample": s.sample,
                        "disease": s.disease or "",
                        "variant": e.hgvs_p,
                        "protein_change": e.protein_change,
                        "protein_change_legacy": e.protein_change_legacy,
                        "vaf": e.vaf,
                        "depth": e.depth,
                        "drugs": {},
                        "rule_ids": {},
                        "effects": {},
                        "levels": {},
                        "citations": {},
                        "notes": {},
                        "kb_version": kbv,
                    },
                )
                for col, val in (
                    ("drugs", f"{c.drug}:{c.call}"),
                    ("rule_ids", e.rule_id),
                    ("effects", e.effect),
                    ("levels", e.level),
                    ("notes", f"{e.rule_id}: {e.note}" if e.note else None),
                ):
                    if val:
                        r[col][val] = None  # type: ignore[index]
                for x in e.citations:
                    r["citations"][x] = None  # type: ignore[index]
        for r in by_var.values():
            for col in ("drugs", "rule_ids", "effects", "levels", "citations"):
                r[col] = list(r[col])  # type: ignore[call-overload]
            r["notes"] = " | ".join(r["notes"])  # type: ignore[arg-type]
            rows.append(r)
    return _table(EVIDENCE_COLUMNS, rows)


def variants_tsv(doc: ResultDocument) -> str:
    """Every annotated allele in the four genes (excluded ones too, flagged)."""
    return _table(VARIANT_COLUMNS, variant_rows(doc))


def variant_rows(doc: ResultDocument) -> list[dict[str, object]]:
    """The rows of ``variants.tsv``, values unformatted (also ``varannot.Result.variants``)."""
    kb = {
        "kb_version": doc.knowledge_base.version if doc.knowledge_base else "",
        "kb_sha256": doc.knowledge_base.sha256 if doc.knowledge_base else "",
    }
    rows: list[dict[str, object]] = []
    for s in doc.samples:
        for v in [*s.variants, *s.excluded_variants]:
            d = v.model_dump()
            d["sample"] = s.sample
            d.update(kb)
            rows.append(d)
    return rows


ERROR_COLUMNS = ["source", "kind", "samples", "error"]


def errors_tsv(doc: ResultDocument) -> str:
    """One row per input that could not be read (a header alone: none failed)."""
    rows: list[dict[str, object]] = [
        {"source": i.source, "kind": i.kind, "samples": i.samples, "error": i.error}
        for i in doc.inputs
        if i.error is not None
    ]
    return _table(ERROR_COLUMNS, rows)


COVERAGE_COLUMNS = [
    "sample", "locus", "chrom", "start", "end", "min_depth", "limit_of_detection", "status",
    "drugs",
]  # fmt: skip


def coverage_tsv(doc: ResultDocument) -> str:
    """Per sample read from BAM/CRAM, one row per locus that matters: its least depth, the VAF a
    clone there needs to be called, and whether it counts as covered (``--min-depth``)."""
    min_depth = doc.thresholds.get("min_depth", 0)
    rows: list[dict[str, object]] = []
    for s in doc.samples:
        limits: dict[tuple[str, str, int, int], DetectionLimitOut] = {}
        drugs: dict[tuple[str, str, int, int], list[str]] = {}
        for c in s.calls:
            for d in c.detection_limits:
                key = (d.chrom, d.locus, d.start, d.end)
                limits.setdefault(key, d)
                drugs.setdefault(key, []).append(c.drug)
        for key in sorted(limits, key=lambda k: (k[0], k[2], k[3])):
            d = limits[key]
            lod = d.limit_of_detection
            rows.append(
                {
                    "sample": s.sample,
                    "locus": d.locus,
                    "chrom": d.chrom,
                    "start": d.start,
                    "end": d.end,
                    "min_depth": d.min_depth,
                    "limit_of_detection": f"{lod:.4g}" if lod is not None else "",
                    "status": "covered" if d.min_depth >= min_depth else "below_min_depth",
                    "drugs": ",".join(drugs[key]),
                }
            )
    return _table(COVERAGE_COLUMNS, rows)
