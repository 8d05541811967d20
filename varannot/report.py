"""The run report: one self-contained HTML page a person reads before the TSVs.

Order follows what a reader needs first: which samples are resistant to which drug (summary
table, resistant samples at the top, every call with its evidence level), then per sample the
evidence (each variant once, with the drugs it touches), the coverage gaps that limit a "no
known resistance", the variants that matched a rule, and the Sanger trace snapshots.

It stays small for a plate or a cohort: variants that match no rule are counted by consequence
(the full list is ``variants.tsv``), a sample with nothing to say is one summary row, and the
trace snapshots of called variants are embedded as palette PNGs at their drawn size (equal het
peaks stay visible) while the snapshots at knowledge-base positions without a call are links
into ``plots/``. Styles are inline and nothing is fetched, so the file can be mailed or
archived. Every string that came from an input (sample names, file names, VCF fields,
knowledge-base text) goes through :func:`html.escape`; links are made only from ``PMID:``,
``DOI:`` and http(s) ``URL:`` citations.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from .coverageplot import coverage_section
from .schema import CallOut, EvidenceOut, ResultDocument, SampleOut, VariantOut

# strongest first; a call value the report does not know sorts after these
CALL_ORDER = {
    "resistant": 0,
    "likely_resistant": 1,
    "uncertain": 2,
    "not_assessed": 3,
    "no_known_resistance": 4,
}
CALL_LABEL = {
    "resistant": "Resistant",
    "likely_resistant": "Likely resistant",
    "uncertain": "Uncertain",
    "not_assessed": "Not assessed",
    "no_known_resistance": "No known resistance",
}
LOUD = ("resistant", "likely_resistant", "uncertain")
# at most this many unmatched variants are listed per sample; more are counted by consequence
UNMATCHED_LISTED = 10
WARNINGS_LISTED = 50
# a sample matching thousands of rows (a ClinVar dump) shows its strongest findings only
FINDINGS_LISTED = 20
NAMES_LISTED = 5
# more sample sections than this are closed <details> (a cohort lays out in seconds)
SECTIONS_OPEN = 100
_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:20px 28px 60px;overflow-wrap:break-word}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid
#d8dce3;padding-bottom:4px}h3{font-size:16px;margin:0 0 6px}h4{font-size:14px;margin:14px 0 4px}
.meta{color:#5a6275;font-size:13px}.meta code{font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;margin:4px 0 10px;font-size:13px}
th,td{border:1px solid #dde1e7;padding:4px 7px;text-align:left;vertical-align:top}
td.mono,.finding .mono{overflow-wrap:anywhere}
th{background:#eef1f5;font-weight:600}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;margin:1px 2px;font-size:12px;
white-space:nowrap}
.badge i{font-style:normal;opacity:.85;margin-left:4px}
.resistant{background:#b71c1c;color:#fff}.likely_resistant{background:#e65100;color:#fff}
.uncertain{background:#f9d65c;color:#3a2f00}.not_assessed{background:#6b7280;color:#fff}
.no_known_resistance{background:#e3f1e5;color:#1f5f2a}
.sample{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:12px 16px;margin:14px 0}
.sample.has-resistant{border-left:6px solid #b71c1c}.sample.has-likely{border-left:6px solid #e65100}
.sample.has-uncertain{border-left:6px solid #f9d65c}
.finding{border-top:1px solid #eef1f5;padding:6px 0}
.warn{background:#fff6e0;border:1px solid #f0c36d;border-radius:6px;padding:8px 12px;margin:10px 0}
.muted{color:#6b7386}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
figure{display:inline-block;margin:6px 10px 6px 0;background:#fff;border:1px solid #dde1e7;
padding:6px;max-width:100%}figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:12px;color:#5a6275}
ul.tight{margin:2px 0;padding-left:18px}summary{cursor:pointer;color:#3b4a6b}
summary.sh h3{display:inline}
@media (max-width:1000px){main{padding:12px}th,td{overflow-wrap:anywhere;padding:3px 4px}}
"""


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _badge(call: str, text: str | None = None, level: str | None = None) -> str:
    lv = f"<i>{_e(level)}</i>" if level else ""
    title = f' title="{_e(CALL_LABEL.get(call, call))}"' if text else ""
    return (
        f'<span class="badge {_e(call)}"{title}>{_e(text or CALL_LABEL.get(call, call))}{lv}</span>'
    )


def call_level(c: CallOut) -> str:
    """The evidence levels behind a call (strongest first), e.g. 'B' or 'B/D'; '' if none."""
    ev = [e for e in c.evidence if e.effect != "sensitivity_retained"] or c.evidence
    return "/".join(sorted(dict.fromkeys(e.level for e in ev if e.level)))


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


def _c_name(hgvs_c: str | None) -> str:
    """'NM_000546.6:c.673-1G>A' -> 'c.673-1G>A'."""
    return (hgvs_c or "").split(":", 1)[-1]


def _unknown_p(protein_change: str | None, hgvs_p: str | None) -> bool:
    return not protein_change or protein_change == "?" or (hgvs_p or "").endswith("p.?")


def variant_name(v: VariantOut) -> str:
    """Gene plus protein change, or the c. name when the protein change is unknown (p.?)."""
    if _unknown_p(v.protein_change, v.hgvs_p):
        return f"{v.gene or ''} {_c_name(v.hgvs_c) or f'{v.chrom}:{v.pos} {v.ref}>{v.alt}'}"
    legacy = (
        f" (published {v.protein_change_legacy})"
        if v.protein_change_legacy and v.protein_change_legacy != v.protein_change
        else ""
    )
    return f"{v.gene} {v.protein_change}{legacy}"


def sample_rank(s: SampleOut) -> int:
    """Report order: 0 resistant, 1 likely resistant, 2 uncertain, 3 the rest."""
    calls = {c.call for c in s.calls}
    for rank, call in enumerate(LOUD):
        if call in calls:
            return rank
    return len(LOUD)


def ordered_samples(doc: ResultDocument) -> list[tuple[int, SampleOut]]:
    """Samples by their strongest call, each group in input order."""
    return sorted(enumerate(doc.samples), key=lambda t: (sample_rank(t[1]), t[0]))


def _names(names: Iterable[str], limit: int = NAMES_LISTED) -> str:
    items = list(dict.fromkeys(names))
    more = len(items) - limit
    return "; ".join(items[:limit]) + (f"; and {more} more" if more > 0 else "")


def _drugs(s: SampleOut, call: str) -> list[CallOut]:
    return [c for c in s.calls if c.call == call]


def _finding_key(e: EvidenceOut) -> tuple[object, ...]:
    return (e.gene, e.hgvs_p or e.protein_change or e.rule_id, e.vaf, e.depth)


def finding_name(e: EvidenceOut, s: SampleOut) -> str:
    """An evidence item's variant as a reader names it: p. change, else the c. name."""
    if not _unknown_p(e.protein_change, e.hgvs_p):
        legacy = (
            f" (published {e.protein_change_legacy})"
            if e.protein_change_legacy and e.protein_change_legacy != e.protein_change
            else ""
        )
        return f"{e.gene} {e.protein_change}{legacy}"
    for v in s.variants:
        if e.rule_id in v.rule_ids and v.vaf == e.vaf and v.depth == e.depth:
            return variant_name(v)
    return f"{e.gene} {e.hgvs_p or e.rule_id}"


def _summary(doc: ResultDocument, samples: Sequence[tuple[int, SampleOut]], shown: set[int]) -> str:
    rows = []
    for i, s in samples:

        def cell(call: str, s: SampleOut = s) -> str:
            return (
                " ".join(_badge(call, c.drug, call_level(c)) for c in _drugs(s, call))
                or '<span class="muted">-</span>'
            )

        n_na = len(_drugs(s, "not_assessed"))
        gaps = sum(1 for c in s.calls if c.coverage in ("not_covered", "partial"))
        cov = (
            "not stated (plain VCF)"
            if s.coverage_source == "unknown"
            else s.coverage_source + (f", {gaps} drugs with gaps" if gaps else ", complete")
        )
        findings = _names(
            finding_name(e, s)
            for c in s.calls
            if c.call in LOUD
            for e in c.evidence
            if e.effect != "sensitivity_retained"
        )
        name = f'<a href="#s{i}">{_e(s.sample)}</a>' if i in shown else _e(s.sample)
        rows.append(
            f"<tr><td>{name}</td><td>{cell('resistant')}</td><td>{cell('likely_resistant')}</td>"
            f"<td>{cell('uncertain')}</td>"
            f"<td>{_badge('not_assessed', f'{n_na} drugs') if n_na else '-'}</td>"
            f"<td>{_e(findings)}</td><td>{len(s.variants)}</td>"
            f"<td>{_e(cov)}</td></tr>"
        )
    if not rows:
        return '<p class="muted">No samples were read.</p>'
    return (
        "<table><thead><tr><th>Sample</th><th>Resistant</th><th>Likely resistant</th>"
        "<th>Uncertain</th><th>Not assessed</th><th>Because of</th><th>Variants in the genes</th>"
        f"<th>Coverage</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        '<p class="muted">Beside each drug: the evidence level(s) behind its call.</p>'
    )


def _findings(s: SampleOut) -> str:
    """Each variant once, with every drug it touches (call, level, effect) and its citations."""
    groups: dict[tuple[object, ...], list[tuple[CallOut, EvidenceOut]]] = {}
    for c in sorted(s.calls, key=lambda c: CALL_ORDER.get(c.call, 9)):
        for e in c.evidence:
            groups.setdefault(_finding_key(e), []).append((c, e))
    if not groups:
        return ""
    ranked = sorted(
        groups.values(),
        key=lambda ps: (min(CALL_ORDER.get(c.call, 9) for c, _ in ps), -(ps[0][1].vaf or 0)),
    )
    items = []
    if len(ranked) > FINDINGS_LISTED:
        items.append(
            f'<p class="muted">The {FINDINGS_LISTED} strongest of {len(ranked)} variants with '
            'evidence; all of them are in <a href="calls.tsv">calls.tsv</a> and '
            '<a href="variants.tsv">variants.tsv</a>.</p>'
        )
    for pairs in ranked[:FINDINGS_LISTED]:
        e0 = pairs[0][1]
        vaf = f", VAF {_pct(e0.vaf)}" if e0.vaf is not None else ""
        depth = f", depth {e0.depth}" if e0.depth is not None else ""
        per_drug: dict[str, list[tuple[CallOut, EvidenceOut]]] = {}
        for c, e in pairs:
            per_drug.setdefault(c.drug, []).append((c, e))
        drugs = []
        for drug, ces in per_drug.items():
            c = ces[0][0]
            levels = "/".join(sorted(dict.fromkeys(e.level for _, e in ces)))
            what = "; ".join(dict.fromkeys(f"{e.effect}, {e.status}" for _, e in ces))
            rules = ", ".join(dict.fromkeys(e.rule_id for _, e in ces))
            drugs.append(
                f"<li>{_badge(c.call, drug, levels)} {_e(what)}, level {_e(levels)} "
                f"<span class=mono>[{_e(rules)}]</span></li>"
            )
        cites = list(dict.fromkeys(x for _, e in pairs for x in e.citations))
        notes = list(dict.fromkeys(e.note for _, e in pairs if e.note))
        items.append(
            f'<div class="finding"><b>{_e(finding_name(e0, s))}</b>{_e(vaf)}{_e(depth)}'
            f'<ul class="tight">{"".join(drugs)}</ul>'
            + (f"<div>{'; '.join(citation_html(c) for c in cites)}</div>" if cites else "")
            + (
                "".join(f'<div class="muted">{_e(n)}</div>' for n in notes)
                if len(notes) <= 2
                else f"<details><summary>{len(notes)} notes</summary>"
                + "".join(f'<div class="muted">{_e(n)}</div>' for n in notes)
                + "</details>"
            )
            + "</div>"
        )
    return f"<h4>Evidence</h4>{''.join(items)}"


def _calls_table(s: SampleOut) -> str:
    """Calls that say something in full; the quiet rest (no evidence) folded into one row.

    A sample typically has a dozen drugs with nothing found and the same caveat each: listing
    them row by row buries the one call that matters.
    """
    calls = sorted(enumerate(s.calls), key=lambda t: (CALL_ORDER.get(t[1].call, 9), t[0]))
    loud = [c for _, c in calls if c.call != "no_known_resistance" or c.evidence]
    quiet = [c for _, c in calls if c.call == "no_known_resistance" and not c.evidence]
    rows = []
    for c in loud:
        caveats = "".join(f"<li>{_e(x)}</li>" for x in dict.fromkeys(c.caveats))
        because = _names(
            finding_name(e, s) for e in c.evidence if e.effect != "sensitivity_retained"
        )
        rows.append(
            f"<tr><td>{_e(c.drug)}</td><td>{_e(c.drug_class)}</td><td>{_badge(c.call)}</td>"
            f"<td>{_e(call_level(c) or '-')}</td><td>{_e(c.coverage)}</td>"
            f"<td>{_e(because)}</td>"
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
            f"<td>{_badge('no_known_resistance')}</td><td>-</td><td>{_e(cov)}</td>"
            f'<td><span class="muted">nothing matched</span></td><td>{more}</td></tr>'
        )
    return (
        "<table><thead><tr><th>Drug</th><th>Class</th><th>Call</th><th>Level</th>"
        "<th>Coverage</th><th>Because of</th><th>Caveats</th></tr></thead>"
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
            f"<p><b>Coverage unknown</b> for {len(unknown)} drugs: the input does not say "
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
        p = _c_name(v.hgvs_p) if not _unknown_p(v.protein_change, v.hgvs_p) else "p.?"
        if v.protein_change_legacy and v.protein_change_legacy != v.protein_change:
            p += f" (published {v.protein_change_legacy})"
        rows.append(
            f"<tr><td>{_e(v.gene)}</td><td class=mono>{_e(v.chrom)}:{v.pos} {_e(v.ref)}&gt;{_e(v.alt)}</td>"
            f"<td class=mono>{_e(_c_name(v.hgvs_c))}</td><td class=mono>{_e(p)}</td>"
            f"<td>{_e(', '.join(v.consequence))}</td><td>{_e(v.genotype)}</td>"
            f"<td>{_pct(v.vaf)}</td><td>{_e(v.depth)}</td>"
            f"<td>{_e(', '.join(v.flags + [f for f in v.filter if f != 'PASS']))}</td>"
            f"<td class=mono>{_e(', '.join(v.rule_ids))}</td>"
            f"<td class=mono>{_e(Path(v.source).name if v.source else '')} {_e(v.record)}</td></tr>"
        )
    return "".join(rows)


_VARIANT_HEAD = (
    "<table><thead><tr><th>Gene</th><th>Variant</th><th>HGVS c.</th><th>HGVS p.</th>"
    "<th>Consequence</th><th>GT</th><th>VAF</th><th>Depth</th><th>Flags</th><th>Rules</th>"
    "<th>Record</th></tr></thead><tbody>"
)


def _by_consequence(vs: Sequence[VariantOut]) -> str:
    counts: dict[str, int] = {}
    for v in vs:
        key = v.consequence[0] if v.consequence else "no consequence"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda t: (-t[1], t[0])))


def _variant_block(vs: Sequence[VariantOut], what: str) -> str:
    """Listed when few; counted by consequence when many (all of them are in variants.tsv)."""
    if not vs:
        return ""
    if len(vs) <= UNMATCHED_LISTED:
        return f"<h4>{_e(what)}</h4>{_VARIANT_HEAD}{_variant_rows(vs)}</tbody></table>"
    return (
        f"<h4>{_e(what)}</h4><p>{len(vs)} variants, by consequence: {_e(_by_consequence(vs))}. "
        'The full list is in <a href="variants.tsv">variants.tsv</a>.</p>'
    )


def _variants(s: SampleOut) -> str:
    if not s.variants and not s.excluded_variants:
        return '<p class="muted">No variants in MEN1, BCL2, BAX or TP53.</p>'
    matched = [v for v in s.variants if v.rule_ids]
    other = [v for v in s.variants if not v.rule_ids]
    out = ""
    if len(matched) > FINDINGS_LISTED:
        out += (
            f"<p>{len(matched)} variants match knowledge-base rules, by consequence: "
            f"{_e(_by_consequence(matched))}. The strongest are under Evidence; the full list "
            'is in <a href="variants.tsv">variants.tsv</a>.</p>'
        )
    elif matched:
        out += f"{_VARIANT_HEAD}{_variant_rows(matched)}</tbody></table>"
    else:
        out += '<p class="muted">No variant matched a knowledge-base rule.</p>'
    out += _variant_block(other, "Matching no knowledge-base rule")
    out += _variant_block(s.excluded_variants, "Excluded from calls (FILTER not PASS)")
    return out


def _rel(path: str, out_dir: Path) -> str:
    """A plot's link: the run writes paths relative to the folder; others are made so."""
    p = Path(path)
    rel = os.path.relpath(p, out_dir.resolve()) if p.is_absolute() else path
    return quote(Path(rel).as_posix())


def embedded_png(path: Path) -> str | None:
    """A PNG as a data URI, re-encoded with a 64-colour palette (a third of the size; the
    four dye colours and the grey text survive). None if the file cannot be read."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            buf = io.BytesIO()
            im.convert("RGB").quantize(colors=64).save(buf, format="PNG", optimize=True)
            data = buf.getvalue()
    except (OSError, ValueError, ImportError):
        try:
            data = path.read_bytes()
        except OSError:
            return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


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
    others = []
    for p in plots:
        rel = _rel(str(p.get("path", "")), out_dir)
        if not p.get("variant"):
            others.append(
                f'<li><a href="{_e(rel)}">{_e(p.get("position", ""))}</a> in {_e(p.get("trace", ""))}</li>'
            )
            continue
        cap = f"{p['variant']} in {p.get('trace', '')}"
        src = embedded_png(out_dir / Path(str(p.get("path", ""))))
        img = (
            f'<img src="{src}" alt="{_e(cap)}" data-file="{_e(rel)}">'
            if src
            else f'<a href="{_e(rel)}">{_e(rel)}</a>'
        )
        parts.append(f"<figure>{img}<figcaption>{_e(cap)}</figcaption></figure>")
    if others:
        parts.append(
            f"<details><summary>{len(others)} snapshot{'s' * (len(others) != 1)} at "
            "knowledge-base positions with no variant called (files in plots/)</summary>"
            f'<ul class="tight">{"".join(others)}</ul></details>'
        )
    return "".join(parts)


def has_details(s: SampleOut) -> bool:
    """Whether a sample needs its own section (else its summary row says all there is)."""
    return bool(
        s.variants
        or s.excluded_variants
        or s.traces
        or s.depth_profile  # read depth plots (BAM/CRAM)
        or any(c.call != "no_known_resistance" or c.evidence for c in s.calls)
        or any(c.coverage not in ("covered", "unknown") for c in s.calls)
    )


def _sample_section(
    i: int, s: SampleOut, out_dir: Path, collapsed: bool = False, min_depth: int = 20
) -> str:
    rank = sample_rank(s)
    cls = {0: " has-resistant", 1: " has-likely", 2: " has-uncertain"}.get(rank, "")
    badges = " ".join(_badge(c.call, c.drug, call_level(c)) for c in s.calls if c.call in LOUD)
    sources = ", ".join(Path(x).name for src in s.sources for x in src.split(","))
    head = f"<h3>{_e(s.sample)} {badges}</h3>"
    if collapsed:  # a cohort: the browser lays out only the sections a reader opens
        head = f'<details><summary class="sh">{head}</summary>'
    return (
        f'<section class="sample{cls}" id="s{i}">{head}'
        f'<div class="meta">from {_e(sources)}</div>'
        f"<h4>Calls</h4>{_calls_table(s)}"
        f"{_findings(s)}"
        f"<h4>Coverage gaps</h4>{_gaps(s)}"
        f"<h4>Variants</h4>{_variants(s)}"
        f"{coverage_section(s.depth_profile, min_depth)}"
        f"{_traces(s, out_dir)}{'</details>' if collapsed else ''}</section>"
    )


def _inputs(doc: ResultDocument, vcf_links: Mapping[str, str]) -> str:
    rows = []
    for i in doc.inputs:
        skipped = "; ".join(
            f"{sk.reason}: {sk.count}"
            + (f" (e.g. {', '.join(sk.examples[:2])})" if sk.examples else "")
            for sk in i.skipped
        )
        if i.error is not None:
            skipped = f"could not be read: {i.error}"
        link = vcf_links.get(i.source)
        vcf = f'<a href="{_e(quote(link))}">{_e(Path(link).name)}</a>' if link else ""
        rows.append(
            f"<tr><td class=mono>{_e(i.source)}</td><td>{_e(i.kind)}</td>"
            f"<td>{_e(', '.join(i.samples))}</td><td>{i.records_read}</td>"
            f"<td>{i.records_outside_genes}</td><td>{_e(skipped)}</td><td>{vcf}</td></tr>"
        )
    table = (
        "<table><thead><tr><th>Input</th><th>Kind</th><th>Samples</th><th>Records read</th>"
        "<th>Outside the genes</th><th>Skipped (why)</th><th>Annotated VCF</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    if len(rows) > SECTIONS_OPEN:
        return f"<details><summary>{len(rows)} inputs</summary>{table}</details>"
    return table


def input_files(doc: ResultDocument) -> int:
    """Files read (a trace group's source lists its files, comma-separated)."""
    return sum(len([x for x in i.source.split(",") if x]) or 1 for i in doc.inputs)


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
    shown = {i for i, s in samples if has_details(s)}
    kb = doc.knowledge_base
    kb_text = f"knowledge base {kb.version} (sha256 {kb.sha256[:12]}...)" if kb else ""
    counts = [sum(1 for _, s in samples if sample_rank(s) == r) for r in range(len(LOUD))]
    warnings = "".join(f"<li>{_e(w)}</li>" for w in doc.warnings[:WARNINGS_LISTED])
    if len(doc.warnings) > WARNINGS_LISTED:
        warnings += f"<li>... {len(doc.warnings) - WARNINGS_LISTED} more in results.json</li>"
    th = ", ".join(f"{k} {v}" for k, v in doc.thresholds.items())
    n_files = input_files(doc)
    n = len(doc.samples)
    body = [
        "<h1>varannot run report</h1>",
        f'<div class="meta">{n} sample{"s" * (n != 1)} from {n_files} input '
        f"file{'s' * (n_files != 1)}; {counts[0]} with a resistant call, {counts[1]} with a "
        f"likely resistant call, {counts[2]} uncertain.<br>"
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
    body.append(_summary(doc, samples, shown))
    body.append("<h2>Samples</h2>")
    if len(shown) < len(samples):
        body.append(
            f'<p class="muted">{len(samples) - len(shown)} sample'
            f"{'s' * (len(samples) - len(shown) != 1)} with no variant in the genes and nothing "
            "but 'no known resistance' only in the summary.</p>"
        )
    collapsed = len(shown) > SECTIONS_OPEN
    if collapsed:
        body.append(
            f'<p class="muted">{len(shown)} sample sections, closed: click a sample to open it.</p>'
        )
    min_depth = int(doc.thresholds.get("min_depth", 20))
    body.extend(
        _sample_section(i, s, out_dir, collapsed, min_depth) for i, s in samples if i in shown
    )
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
        f"<title>varannot report - {n} samples</title><style>{_CSS}</style>"
        f"</head><body><main>{''.join(body)}</main></body></html>\n"
    )
