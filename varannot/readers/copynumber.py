"""Copy-number segments (``--copy-number SEG``): deletions and copy-neutral LOH per sample.

A SEG file is tab-separated with a header naming ``sample``, ``chrom``, ``start``, ``end`` and
either ``copy_number`` (absolute, 2 = normal) or ``log2`` (log2 ratio to a diploid normal);
an optional ``minor_copy_number`` (or ``lcn``) marks copy-neutral LOH (total 2, minor 0).
Only what a biallelic TP53 rule needs is classified: ``deletion`` below 1.5 copies
(log2 < -0.415), ``cn_loh``, ``gain`` above 2.5 copies, otherwise ``neutral``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ..errors import InputError
from ..genome import canonical_chrom
from ..models import CopyNumberEvent

_ALIASES = {
    "sample": ("sample", "id", "sample_id"),
    "chrom": ("chrom", "chromosome", "chr"),
    "start": ("start", "loc.start", "start_pos"),
    "end": ("end", "loc.end", "end_pos"),
    "copy_number": ("copy_number", "cn", "total_cn", "tcn"),
    "log2": ("log2", "seg.mean", "log2_ratio", "segment_mean"),
    "minor": ("minor_copy_number", "lcn", "minor_cn"),
}


def _kind(total: float, minor: float | None) -> str:
    if total < 1.5:
        return "deletion"
    if minor is not None and minor < 0.5 and total < 2.5:
        return "cn_loh"
    return "gain" if total > 2.5 else "neutral"


def read_seg(path: str | Path) -> list[CopyNumberEvent]:
    """All segments of a SEG file; raises ``InputError`` naming the line on a bad row."""
    p = Path(path)
    try:
        lines = [
            (n, ln)
            for n, ln in enumerate(p.read_text(encoding="utf-8-sig").splitlines(), 1)
            if ln.strip() and not ln.startswith("#")
        ]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the copy-number file: {exc}", source=str(p)) from exc
    if not lines:
        raise InputError("the copy-number file is empty", source=str(p))
    rows = list(csv.reader([ln for _, ln in lines], delimiter="\t"))
    header = [h.strip().lower() for h in rows[0]]
    col: dict[str, int] = {}
    for key, names in _ALIASES.items():
        for name in names:
            if name in header:
                col[key] = header.index(name)
                break
    missing = [k for k in ("sample", "chrom", "start", "end") if k not in col]
    if missing or ("copy_number" not in col and "log2" not in col):
        raise InputError(
            "needs columns sample, chrom, start, end and copy_number or log2 "
            f"(header: {', '.join(header)})",
            source=str(p),
            record=f"line {lines[0][0]}",
        )
    out: list[CopyNumberEvent] = []
    for (n, _), row in zip(lines[1:], rows[1:], strict=True):

        def cell(key: str, row: list[str] = row) -> str:
            i = col.get(key)
            return row[i].strip() if i is not None and i < len(row) else ""

        try:
            start, end = int(float(cell("start"))), int(float(cell("end")))
            if "copy_number" in col and cell("copy_number") not in ("", "NA", "."):
                total = float(cell("copy_number"))
            else:
                total = 2.0 * math.pow(2.0, float(cell("log2")))
            minor_text = cell("minor")
            minor = float(minor_text) if minor_text not in ("", "NA", ".") else None
        except ValueError as exc:
            raise InputError(f"bad number: {exc}", source=str(p), record=f"line {n}") from None
        if not cell("sample") or not cell("chrom") or end < start:
            raise InputError(
                "a segment needs a sample, a chromosome and end >= start",
                source=str(p),
                record=f"line {n}",
            )
        out.append(
            CopyNumberEvent(
                cell("sample"),
                canonical_chrom(cell("chrom")),
                start,
                end,
                _kind(total, minor),  # type: ignore[arg-type]
                p.name,
                f"line {n}",
                round(total, 3),
            )
        )
    return out
