"""The run report: one self-contained HTML page a person reads before the TSVs.

Order follows what a reader needs first: which samples are resistant to which drug (summary
table, resistant samples at the top), then per sample the evidence with citations, the coverage
gaps that limit a "no known resistance", the variants, and the Sanger trace snapshots. Styles
are inline and nothing is fetched, so the file can be mailed or archived; plots stay separate
PNG files linked relatively (``plots/...``), so the report and its folder move together.
Every string that came from an input (sample names, file names, VCF fields, knowledge-base
text) goes through :func:`html.escape`; links are made only from ``PMID:``, ``DOI:`` and
http(s) ``URL:`` citations.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from .schema import CallOut, EvidenceOut, ResultDocument, SampleOut, VariantOut

CALL_ORDER = {"resistant": 0, "likely_resistant": 1, "not_assessed": 2, "no_known_resistance": 3}
CALL_LABEL = {
    "resistant": "Resistant",
    "likely_resistant": "Likely resistant",
    "not_assessed": "Not assessed",
    "no_known_resistance": "No known resistance",
}
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:20px 28px 60px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid
#d8dce3;padding-bottom:4px}h3{font-size:16px;margin:0 0 6px}h4{font-size:14px;margin:14px 0 4px}
.meta{color:#5a6275;font-size:13px}.meta code{font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;margin:4px 0 10px;font-size:13px}
th,td{border:1px solid #dde1e7;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;margin:1px 2px;font-size:12px;
white-space:nowrap}
.resistant{background:#c62828;color:#fff}.likely_resistant{background:#ef8f00;color:#fff}
.not_assessed{background:#78818f;color:#fff}.no_known_resistance{background:#e3f1e5;color:#1f5f2a}
.sample{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:12px 16px;margin:14px 0}
.sample.has-resistant{border-left:6px solid #c62828}.sample.has-likely{border-left:6px solid #ef8f00}
.warn{background:#fff6e0;border:1px solid #f0c36d;border-radius:6px;padding:8px 12px;margin:10px 0}
.muted{color:#6b7386}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
figure{display:inline-block;margin:6px 10px 6px 0;background:#fff;border:1px solid #dde1e7;
padding:6px}figure img{max-width:520px;display:block}figcaption{font-size:12px;color:#5a6275}
ul.tight{margin:2px 0;padding-left:18px}summary{cursor:pointer;color:#3b4a6b}
"""


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _badge(call: str, text: str | None = None) -> str:
    return f'<span class="badge {_e(call)}">{_e(text or CALL_LABEL.get(call, call))}</span>'


_PMID = re.compile(r"^PMID:\s*(\d+)$", re.I)
_DOI = re.compile(r"^DOI:\s*(10\.\S+)$", re.I)
_URL = re.compile(r"^(?:URL:\s*)?(https?://\S+)$", re.I)


def citation_html(c: str) -> str:
    """A citation as a link where its form is unambiguous, else as escaped text."""
    c = c.strip()
    m = _PMID.match(c)
    if m:
        return f'<a href="https://pubmed.ncbi.nlm.nih.gov/{m.group(1)}/">PMID:{m.group(1)}</a>'
    m = _DOI.match(c)
    if m:
        return f'<a href="https://doi.org/{_e(quote(m.group(1), safe="/:;()._-"))}">DOI:{_e(m.group(1))}</a>'
    m = _URL.match(c)
    if m:
        return f'<a href="{_e(m.group(1))}">{_e(m.group(1))}</a>'
    return _e(c.removeprefix("REF:"))


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:.1%}"


def sample_rank(s: SampleOut) -> int:
    """0 for a sample with a resistant call, 1 likely resistant, 2 the rest (report order)."""
    calls = {c.call for c in s.calls}
    return 0 if "resistant" in calls else (1 if "likely_resistant" in calls else 2)


def ordered_samples(doc: ResultDocument) -> list[tuple[int, SampleOut]]:
    """Samples with resistant calls first, then likely resistant, each group in input order."""
    return sorted(enumerate(doc.samples), key=lambda t: (sample_rank(t[1]), t[0]))


def _drugs(s: SampleOut, call: str) -> list[CallOut]:
    return [c for c in s.calls if c.call == call]


def _summary(doc: ResultDocument, samples: Sequence[tuple[int, SampleOut]]) -> str:
    rows = []
    for i, s in samples:

        def cell(call: str, s: SampleOut = s) -> str:
            return (
                " ".join(_badge(call, c.drug) for c in _drugs(s, call))
                or '<span class="muted">-</span>'
            )

        gaps = sum(1 for c in s.calls if c.coverage in ("not_covered", "partial"))
        cov = (
            "not stated (plain VCF)"
            if s.coverage_source == "unknown"
            else s.coverage_source + (f", {gaps} drugs with gaps" if gaps else ", complete")
        )
        rows.append(
            f'<tr><td><a href="#s{i}">{_e(s.sample)}</a></td>'
            f"<td>{cell('resistant')}</td><td>{cell('likely_resistant')}</td>"
            f"<td>{cell('not_assessed')}</td>"
            f"<td>{len(s.variants)}</td>"
            f"<td>{_e(cov)}</td></tr>"
        )
    if not rows:
        return '<p class="muted">No samples were read.</p>'
    return (
        "<table><thead><tr><th>Sample</th><th>Resistant</th><th>Likely resistant</th>"
        "<th>Not assessed</th><th>Variants in the genes</th><th>Coverage</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _evidence(ev: Sequence[EvidenceOut]) -> str:
    if not ev:
        return '<span class="muted">none</span>'
    items = []
    for e in ev:
        change = e.protein_change or e.hgvs_p or ""
        legacy = f" (published {e.protein_change_legacy})" if e.protein_change_legacy else ""
        vaf = f", VAF {_pct(e.vaf)}" if e.vaf is not None else ""
        depth = f", depth {e.depth}" if e.depth is not None else ""
        cites = "; ".join(citation_html(c) for c in e.citations)
        note = f'<br><span class="muted">{_e(e.note)}</span>' if e.note else ""
        items.append(
            f"<li><b>{_e(e.gene)} {_e(change)}</b>{_e(legacy)}{_e(vaf)}{_e(depth)} - "
            f"{_e(e.effect)}, level {_e(e.level)}, {_e(e.status)} "
            f'<span class="mono">[{_e(e.rule_id)}]</span>'
            f"{f'<br>{cites}' if cites else ''}{note}</li>"
        )
    return f'<ul class="tight">{"".join(items)}</ul>'


def _calls_table(s: SampleOut) -> str:
    """Resistant, likely resistant and not assessed drugs in full; the quiet rest in one line.

    A sample typically has a dozen drugs with nothing found and the same caveat each: listing
    them row by row buries the one call that matters, so they are folded into one row whose
    caveats (deduplicated) open on demand.
    """
    calls = sorted(enumerate(s.calls), key=lambda t: (CALL_ORDER.get(t[1].call, 9), t[0]))
    loud = [c for _, c in calls if c.call != "no_known_resistance" or c.evidence]
    quiet = [c for _, c in calls if c.call == "no_known_resistance" and not c.evidence]
    rows = []
    for c in loud:
        caveats = "".join(f"<li>{_e(x)}</li>" for x in c.caveats)
        rows.append(
            f"<tr><td>{_e(c.drug)}</td><td>{_e(c.drug_class)}</td><td>{_badge(c.call)}</td>"
            f"<td>{_e(c.coverage)}</td><td>{_evidence(c.evidence)}</td>"
            f"<td>{f'<ul class=tight>{caveats}</ul>' if caveats else ''}</td></tr>"
        )
    if quiet:
        shared = list(dict.fromkeys(x for c in quiet for x in c.caveats))
        cov = ", ".join(dict.fromkeys(c.coverage for c in quiet))
        more = (
            f"<details><summary>{len(shared)} caveat{'s' * (len(shared) != 1)}</summary>"
            f'<ul class="tight">{"".join(f"<li>{_e(x)}</li>" for x in shared)}</ul></details>'
            if shared
            else ""
        )
        rows.append(
            f"<tr><td>{_e(', '.join(c.drug for c in quiet))}</td>"
            f"<td>{_e(', '.join(dict.fromkeys(c.drug_class for c in quiet)))}</td>"
            f"<td>{_badge('no_known_resistance')}</td><td>{_e(cov)}</td>"
            f'<td><span class="muted">none</span></td><td>{more}</td></tr>'
        )
    return (
        "<table><thead><tr><th>Drug</th><th>Class</th><th>Call</th><th>Coverage</th>"
        "<th>Evidence (citations)</th><th>Caveats</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _gaps(s: SampleOut) -> str:
    """Uncovered loci grouped by gene, with the drugs whose call they limit.

    Loci are listed per drug in the document, and most drugs of a gene share them; a trace
    over one exon leaves dozens uncovered, so each gene shows a count and opens the full list.
    """
    gaps = [c for c in s.calls if c.coverage != "covered"]
    if not gaps:
        return '<p class="muted">Every locus that matters for these drugs was covered.</p>'
    items = []
    unknown = [c.drug for c in gaps if c.coverage == "unknown"]
    if unknown:
        items.append(
            f"<p><b>Coverage unknown</b> for {_e(', '.join(unknown))}: the input does not say "
            "which loci were sequenced (a gVCF or traces would).</p>"
        )
    loci: dict[str, dict[str, list[str]]] = {}  # gene -> locus -> drugs
    for c in gaps:
        for locus in c.uncovered_loci:
            gene = locus.split(" ", 1)[0]
            loci.setdefault(gene, {}).setdefault(locus, []).append(c.drug)
    rows = []
    for gene, where in loci.items():
        drugs = list(dict.fromkeys(d for ds in where.values() for d in ds))
        listing = "".join(f"<li>{_e(x)}</li>" for x in where)
        cell = (
            f'<ul class="tight">{listing}</ul>'
            if len(where) <= 3
            else f"<details><summary>{len(where)} loci</summary>"
            f'<ul class="tight">{listing}</ul></details>'
        )
        rows.append(f"<tr><td>{_e(gene)}</td><td>{cell}</td><td>{_e(', '.join(drugs))}</td></tr>")
    if rows:
        items.append(
            "<table><thead><tr><th>Gene</th><th>Not covered</th><th>Limits the call for</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    return "".join(items)


def _variant_rows(vs: Iterable[VariantOut]) -> str:
    rows = []
    for v in vs:
        p = v.hgvs_p or ""
        if v.protein_change_legacy:
            p += f" (published {v.protein_change_legacy})"
        rows.append(
            f"<tr><td>{_e(v.gene)}</td><td class=mono>{_e(v.chrom)}:{v.pos} {_e(v.ref)}&gt;{_e(v.alt)}</td>"
            f"<td class=mono>{_e(v.hgvs_c)}</td><td class=mono>{_e(p)}</td>"
            f"<td>{_e(', '.join(v.consequence))}</td><td>{_e(v.genotype)}</td>"
            f"<td>{_pct(v.vaf)}</td><td>{_e(v.depth)}</td>"
            f"<td>{_e(', '.join(v.flags + [f for f in v.filter if f != 'PASS']))}</td>"
            f"<td class=mono>{_e(', '.join(v.rule_ids))}</td>"
            f"<td class=mono>{_e(Path(v.source).name if v.source else '')} {_e(v.record)}</td></tr>"
        )
    return "".join(rows)


def _variants(s: SampleOut) -> str:
    if not s.variants and not s.excluded_variants:
        return '<p class="muted">No variants in MEN1, BCL2, BAX or TP53.</p>'
    head = (
        "<table><thead><tr><th>Gene</th><th>Variant</th><th>HGVS c.</th><th>HGVS p.</th>"
        "<th>Consequence</th><th>GT</th><th>VAF</th><th>Depth</th><th>Flags</th><th>Rules</th>"
        "<th>Record</th></tr></thead><tbody>"
    )
    out = head + _variant_rows(s.variants) + "</tbody></table>"
    if s.excluded_variants:
        out += (
            "<h4>Excluded from calls (FILTER not PASS)</h4>"
            + head
            + _variant_rows(s.excluded_variants)
            + "</tbody></table>"
        )
    if s.unclassified_variants:
        out += (
            '<p class="muted">Matching no knowledge-base rule: '
            f"{_e(', '.join(s.unclassified_variants))}</p>"
        )
    return out


def _rel(path: str, out_dir: Path) -> str:
    """A plot's link: the run writes paths relative to the folder; others are made so."""
    p = Path(path)
    rel = os.path.relpath(p, out_dir.resolve()) if p.is_absolute() else path
    return quote(Path(rel).as_posix())


def _list(v: object) -> list[object]:
    """Trace details are free-form JSON: take a list only when it is one."""
    return v if isinstance(v, list) else []


def _traces(s: SampleOut, out_dir: Path) -> str:
    if not s.traces:
        return ""
    parts = ["<h4>Sanger traces</h4>"]
    rows = []
    plots: list[dict[str, object]] = []
    for details in s.traces:
        for t in _list(details.get("traces")):
            if not isinstance(t, dict):
                continue
            pl = t.get("placement")
            if isinstance(pl, dict):
                where = (
                    f"{pl.get('gene') or pl.get('region')} {pl.get('chrom')}:{pl.get('start')}-"
                    f"{pl.get('end')} ({pl.get('strand')}), identity {pl.get('identity')}"
                )
            else:
                # the reason says which: not placed / too short / failed quality
                where = f"no evidence from this trace: {t.get('reason', '')}"
            calls = ", ".join(
                f"{c.get('variant')} {c.get('genotype')}"
                for c in (t.get("calls") or [])
                if isinstance(c, dict)
            )
            rows.append(
                f"<tr><td class=mono>{_e(t.get('trace'))}</td><td>{_e(where)}</td>"
                f"<td class=mono>{_e(calls)}</td></tr>"
            )
        for p in _list(details.get("plots")):
            if isinstance(p, dict):
                plots.append(p)
    if rows:
        parts.append(
            "<table><thead><tr><th>Trace</th><th>Placed on</th><th>Calls</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
    for p in plots:
        src = _rel(str(p.get("path", "")), out_dir)
        cap = (
            f"{p['variant']} in {p.get('trace', '')}"
            if p.get("variant")
            else f"knowledge-base position {p.get('position', '')} in {p.get('trace', '')}: "
            "no variant called"
        )
        parts.append(
            f'<figure><a href="{_e(src)}"><img src="{_e(src)}" alt="{_e(cap)}" loading="lazy"></a>'
            f"<figcaption>{_e(cap)}</figcaption></figure>"
        )
    return "".join(parts)


def _sample_section(i: int, s: SampleOut, out_dir: Path) -> str:
    rank = sample_rank(s)
    cls = {0: " has-resistant", 1: " has-likely"}.get(rank, "")
    badges = " ".join(
        _badge(c.call, c.drug) for c in s.calls if c.call in ("resistant", "likely_resistant")
    )
    sources = ", ".join(Path(x).name for src in s.sources for x in src.split(","))
    return (
        f'<section class="sample{cls}" id="s{i}"><h3>{_e(s.sample)} {badges}</h3>'
        f'<div class="meta">from {_e(sources)}</div>'
        f"<h4>Calls</h4>{_calls_table(s)}"
        f"<h4>Coverage gaps</h4>{_gaps(s)}"
        f"<h4>Variants</h4>{_variants(s)}"
        f"{_traces(s, out_dir)}</section>"
    )


def _inputs(doc: ResultDocument, vcf_links: Mapping[str, str]) -> str:
    rows = []
    for i in doc.inputs:
        skipped = "; ".join(
            f"{sk.reason}: {sk.count}"
            + (f" (e.g. {', '.join(sk.examples[:2])})" if sk.examples else "")
            for sk in i.skipped
        )
        link = vcf_links.get(i.source)
        vcf = f'<a href="{_e(quote(link))}">{_e(Path(link).name)}</a>' if link else ""
        if i.error is not None:
            skipped = f"could not be read: {i.error}"
        rows.append(
            f"<tr><td class=mono>{_e(i.source)}</td><td>{_e(i.kind)}</td>"
            f"<td>{_e(', '.join(i.samples))}</td><td>{i.records_read}</td>"
            f"<td>{i.records_outside_genes}</td><td>{_e(skipped)}</td><td>{vcf}</td></tr>"
        )
    return (
        "<table><thead><tr><th>Input</th><th>Kind</th><th>Samples</th><th>Records read</th>"
        "<th>Outside the genes</th><th>Skipped (why)</th><th>Annotated VCF</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def render_report(
    doc: ResultDocument,
    out_dir: Path,
    vcf_links: Mapping[str, str] | None = None,
    files: Sequence[str] = (),
) -> str:
    """The HTML text of the report for ``doc`` written into ``out_dir``.

    ``vcf_links`` maps an input's ``source`` to its annotated VCF, and ``files`` names the
    other outputs beside the report; both relative to ``out_dir``.
    """
    samples = ordered_samples(doc)
    kb = doc.knowledge_base
    kb_text = f"knowledge base {kb.version} (sha256 {kb.sha256[:12]}...)" if kb else ""
    n_res = sum(1 for _, s in samples if sample_rank(s) == 0)
    n_lik = sum(1 for _, s in samples if sample_rank(s) == 1)
    warnings = "".join(f"<li>{_e(w)}</li>" for w in doc.warnings)
    th = ", ".join(f"{k} {v}" for k, v in doc.thresholds.items())
    body = [
        "<h1>varannot run report</h1>",
        f'<div class="meta">{len(doc.samples)} samples, {len(doc.inputs)} inputs; '
        f"{n_res} with a resistant call, {n_lik} with a likely resistant call.<br>"
        f"varannot {_e(doc.varannot_version)}, {_e(doc.build)}, reference "
        f"<code>{_e(doc.reference)}</code>, {_e(kb_text)}; thresholds: {_e(th)}"
        + (
            "<br>Files: " + " · ".join(f'<a href="{_e(quote(f))}">{_e(f)}</a>' for f in files)
            if files
            else ""
        )
        + "</div>",
    ]
    failed = [i for i in doc.inputs if i.error is not None]
    if failed:
        items = "".join(f"<li>{_e(', '.join(i.samples))}: {_e(i.error)}</li>" for i in failed)
        body.append(
            f'<div class="warn"><b>{len(failed)} input{"s" * (len(failed) != 1)} could not be '
            "read</b> (their samples are not assessed; listed in errors.tsv)"
            f'<ul class="tight">{items}</ul></div>'
        )
    if warnings:
        body.append(f'<div class="warn"><b>Warnings</b><ul class="tight">{warnings}</ul></div>')
    body.append("<h2>Summary</h2>")
    body.append(_summary(doc, samples))
    body.append("<h2>Samples</h2>")
    body.extend(_sample_section(i, s, out_dir) for i, s in samples)
    body.append("<h2>Inputs</h2>")
    body.append(_inputs(doc, vcf_links or {}))
    body.append(
        '<p class="muted">Calls are decision support, not a diagnosis: check the evidence and '
        "the coverage gaps. A plain VCF does not say which loci were sequenced, so its "
        "'no known resistance' is not proof of wild type.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>varannot report - {len(doc.samples)} samples</title><style>{_CSS}</style>"
        f"</head><body><main>{''.join(body)}</main></body></html>\n"
    )
