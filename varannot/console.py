"""What a person sees on a terminal: one row per sample, the calls that matter, and why.

The machine formats (JSON, TSV) carry everything; this table is for reading at a glance, so it
names per sample the drugs with a resistant or likely resistant call and the variants behind
them, counts the rest, and says what could not be assessed.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .schema import CallOut, SampleOut

if TYPE_CHECKING:
    from .run import RunResult

# strongest first; a call value this table does not know sorts last
CALL_RANK = {
    "resistant": 0,
    "likely_resistant": 1,
    "uncertain": 2,
    "not_assessed": 3,
    "no_known_resistance": 4,
}
STYLE = {
    "resistant": "bold white on red",
    "likely_resistant": "bold black on dark_orange",
    "uncertain": "black on yellow",
    "not_assessed": "white on grey50",
    "no_known_resistance": "green",
}
LABEL = {
    "resistant": "resistant",
    "likely_resistant": "likely resistant",
    "uncertain": "uncertain",
    "not_assessed": "not assessed",
    "no_known_resistance": "no known resistance",
}


def worst_call(s: SampleOut) -> str:
    return min((c.call for c in s.calls), key=lambda c: CALL_RANK.get(c, 9), default="")


def _findings(s: SampleOut, calls: list[CallOut], limit: int = 4) -> str:
    """The variants behind the loud calls, each once, with VAF and evidence levels."""
    from .report import finding_name

    seen: dict[str, tuple[str, set[str]]] = {}
    for c in calls:
        for e in c.evidence:
            if e.effect == "sensitivity_retained":
                continue
            name = finding_name(e, s)
            vaf = f" VAF {e.vaf:.0%}" if e.vaf is not None else ""
            seen.setdefault(name, (f"{name}{vaf}", set()))[1].add(e.level)
    items = [f"{text} [level {'/'.join(sorted(lv))}]" for text, lv in seen.values()]
    more = len(items) - limit
    return "; ".join(items[:limit]) + (f"; and {more} more" if more > 0 else "")


def sample_row(s: SampleOut) -> tuple[str, str, str, str]:
    """(worst call, drugs by call, findings, notes) for one sample."""
    by_call: dict[str, list[str]] = {}
    for c in s.calls:
        by_call.setdefault(c.call, []).append(c.drug)
    loud = [c for c in s.calls if c.call in ("resistant", "likely_resistant", "uncertain")]
    drugs = []
    for call in sorted(by_call, key=lambda k: CALL_RANK.get(k, 9)):
        if call in ("resistant", "likely_resistant", "uncertain"):
            drugs.append(f"{LABEL.get(call, call)}: {', '.join(by_call[call])}")
        else:
            n = len(by_call[call])
            drugs.append(f"{LABEL.get(call, call)}: {n} drug{'s' * (n != 1)}")
    notes = []
    failed = [x for c in s.calls for x in c.caveats if x.startswith("not assessed: ")]
    if failed:
        notes.append(failed[0].removeprefix("not assessed: "))
    elif s.coverage_source == "unknown":
        notes.append("plain VCF: coverage not stated")
    elif any(c.coverage in ("not_covered", "partial") for c in s.calls):
        notes.append(f"{s.coverage_source}: some loci not covered")
    else:
        notes.append(f"{s.coverage_source}: loci covered")
    return worst_call(s), "\n".join(drugs), _findings(s, loud) or "-", "; ".join(notes)


def print_summary(
    result: RunResult, out_dir: Path | None = None, file: Path | TextIO | None = None
) -> None:
    """The summary table (rich) on stdout, or as plain text into ``file``."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    doc = result.doc
    n = len(doc.samples)
    table = Table(title=f"varannot: {n} sample{'s' * (n != 1)}, build {doc.build}", expand=False)
    table.add_column("Sample", no_wrap=True, overflow="fold")
    table.add_column("Call", no_wrap=True)
    table.add_column("Drugs")
    table.add_column("Because")
    table.add_column("Notes", style="dim")
    samples = sorted(
        enumerate(doc.samples), key=lambda t: (CALL_RANK.get(worst_call(t[1]), 9), t[0])
    )
    for _, s in samples:
        worst, drugs, because, notes = sample_row(s)
        table.add_row(
            Text(s.sample),
            Text(LABEL.get(worst, worst), style=STYLE.get(worst, "")),
            Text(drugs),
            Text(because),
            Text(notes),
        )
    kb = doc.knowledge_base
    foot = [f"knowledge base {kb.version} (sha256 {kb.sha256[:12]})" if kb else ""]
    if result.failures:
        foot.append(f"{len(result.failures)} input(s) could not be read: see errors.tsv")
    if out_dir is not None:
        foot.append(f"full report: {out_dir}/report.html")
    else:
        foot.append("full document: --format json (or tsv), or --out-dir DIR for a report")
    if file is None:
        console = Console(file=sys.stdout)
        console.print(table)
        for line in foot:
            if line:
                console.print(Text(line, style="dim"))
        return
    buf = io.StringIO()
    console = Console(file=buf, width=120, no_color=True, force_terminal=False)
    console.print(table)
    for line in foot:
        if line:
            console.print(Text(line))
    if isinstance(file, Path):
        file.write_text(buf.getvalue())
    else:
        file.write(buf.getvalue())
