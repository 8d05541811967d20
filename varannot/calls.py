"""Per-sample, per-drug resistance calls from annotated alleles, coverage and the knowledge base.

One call per drug in the knowledge base, always; silence is never an answer. Strongest first:

- ``resistant``: a rule that can call resistance (confirmed, level A-C, allele-specific; see
  ``Rule.can_call_resistant``) matched an allele at VAF >= ``reporting_vaf``, depth OK, REF
  matching the reference, and the rule holds for the sample's disease.
- ``likely_resistant``: matched only by weaker evidence (secondary, level D/E, reduced
  sensitivity, a consequence-class or biallelic rule), or a strong match below
  ``reporting_vaf`` but at or above ``detection_floor``, or with unknown VAF, low depth or a
  REF mismatch. The evidence notes say which.
- ``uncertain``: an allele was seen at a locus that matters without evidence either way: a
  row of effect ``uncertain`` (a drug-contact residue, a TP53 allele of partial, discordant or
  unmeasured function, a drug named only by class claims), or evidence that holds for another
  disease than the sample's.
- ``no_known_resistance``: nothing matched and every locus that matters was covered, or the
  input says nothing about coverage (then ``coverage: unknown`` and a caveat: not wild type).
- ``not_assessed``: nothing matched and a locus that matters was not covered (or a variant
  there could not be interpreted).

Alleles below ``detection_floor`` are reported in the evidence but never drive a call.
Identical duplicate observations of one allele count once and are named in the caveats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from .errors import InputError
from .knowledge import KnowledgeBase, Rule
from .models import Annotation, CopyNumberEvent, CoveredInterval, Observation
from .schema import CallOut, CallValue, CoverageValue, EvidenceOut
from .transcripts import TranscriptSet


@dataclass(slots=True)
class Thresholds:
    """Call thresholds (defaults in brackets).

    - ``reporting_vaf`` [0.05]: a confirmed match at or above it can be ``resistant``. 5% is a
      common NGS reporting limit; resistance clones (BCL2 G101V) are often smaller, hence the
      ``likely_resistant`` band below it.
    - ``detection_floor`` [0.01]: matches below it are listed but not called (noise for typical
      panels; lower it for deep or duplex sequencing).
    - ``min_depth`` [20]: coverage blocks (gVCF DP/MIN_DP) below it do not count as covered, and
      a matched allele with known depth below it gives at most ``likely_resistant``.
    - ``biallelic_vaf`` [0.8]: one allele at or above it (or a homozygous GT) satisfies a
      biallelic rule (loss of the other allele inferred).
    - ``trust_unknown_vaf`` [False]: whether an allele without VAF (sites-only VCF, lists) may
      give ``resistant``; by default it gives ``likely_resistant`` with a caveat.
    """

    reporting_vaf: float = 0.05
    detection_floor: float = 0.01
    min_depth: int = 20
    biallelic_vaf: float = 0.8
    trust_unknown_vaf: bool = False

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ``InputError`` on inconsistent values (also after a caller changed them)."""
        if not 0.0 <= self.detection_floor <= self.reporting_vaf <= 1.0:
            raise InputError(
                "thresholds must satisfy 0 <= detection_floor <= reporting_vaf <= 1 "
                f"(got {self.detection_floor}, {self.reporting_vaf})",
                source="thresholds",
            )
        if self.min_depth < 0 or not 0.0 < self.biallelic_vaf <= 1.0:
            raise InputError(
                "min_depth must be >= 0 and biallelic_vaf in (0, 1]", source="thresholds"
            )

    def as_dict(self) -> dict[str, float | int]:
        return {k: (int(v) if isinstance(v, bool) else v) for k, v in asdict(self).items()}


@dataclass
class SampleVariant:
    """One allele of one sample, annotated; ``excluded`` ones (FILTER not PASS) are not called."""

    observation: Observation
    annotation: Annotation | None
    flags: list[str] = field(default_factory=list)
    excluded: bool = False

    @classmethod
    def of(
        cls, observation: Observation, annotation: Annotation | None, flags: Sequence[str] = ()
    ) -> SampleVariant:
        """Excluded when the input FILTER is not PASS."""
        return cls(observation, annotation, list(flags), not observation.passed)

    @property
    def all_flags(self) -> set[str]:
        out = set(self.flags) | set(self.observation.extra_flags)
        if self.annotation is not None:
            out |= set(self.annotation.flags)
        return out

    @property
    def label(self) -> str:
        a = self.annotation
        if a is None:
            o = self.observation
            return f"{o.chrom}:{o.pos}:{o.ref}>{o.alt}"
        short = a.protein.short if a.protein else None
        if not short or "?" in short:  # p.? (splice, start) says nothing: name the c. change
            short = a.hgvs_c.split(":")[-1]
        return f"{a.gene} {short}"

    def homozygous(self) -> bool:
        gt = (self.observation.genotype or "").replace("|", "/").split("/")
        return len(gt) > 1 and gt[0] not in ("0", ".") and len(set(gt)) == 1


class _Coverage:
    """Union of covered spans per chromosome (intervals at or above the minimum depth)."""

    def __init__(self, intervals: Sequence[CoveredInterval], min_depth: int):
        spans: dict[str, list[tuple[int, int]]] = {}
        for iv in intervals:
            if iv.depth is None or iv.depth >= min_depth:
                spans.setdefault(iv.chrom, []).append((iv.start, iv.end))
        self.merged: dict[str, list[tuple[int, int]]] = {}
        for chrom, ivs in spans.items():
            out: list[tuple[int, int]] = []
            for a, b in sorted(ivs):
                if out and a <= out[-1][1] + 1:
                    out[-1] = (out[-1][0], max(out[-1][1], b))
                else:
                    out.append((a, b))
            self.merged[chrom] = out

    def covers(self, chrom: str, start: int, end: int) -> bool:
        return any(a <= start and end <= b for a, b in self.merged.get(chrom, ()))


def _evidence(rule: Rule, v: SampleVariant, notes: list[str]) -> EvidenceOut:
    a = v.annotation
    parts = [*notes, rule.note] if rule.note else notes
    return EvidenceOut(
        rule_id=rule.id,
        gene=rule.gene,
        effect=rule.effect,
        status=rule.status,
        level=rule.level,
        evidence_kind=";".join(rule.evidence_kind),
        hgvs_p=a.hgvs_p if a else None,
        protein_change=a.protein.short if a and a.protein else None,
        protein_change_legacy=a.legacy_protein.short if a and a.legacy_protein else None,
        vaf=v.observation.vaf,
        depth=v.observation.depth,
        citations=list(rule.citations),
        note="; ".join(parts) if parts else None,
    )


def _allele_limits(v: SampleVariant, th: Thresholds) -> list[str]:
    """Why a strong match on this allele still gives only ``likely_resistant``."""
    o = v.observation
    out = []
    if o.vaf is None and not th.trust_unknown_vaf:
        out.append("VAF unknown: reporting threshold not applied")
    elif o.vaf is not None and o.vaf < th.reporting_vaf:
        out.append(f"VAF {o.vaf:.3g} below the reporting threshold {th.reporting_vaf:g}")
    if o.depth is not None and o.depth < th.min_depth:
        out.append(f"depth {o.depth} below the minimum {th.min_depth}")
    if "ref_mismatch" in v.all_flags:
        out.append("REF does not match the reference FASTA (ref_mismatch)")
    return out


def _below_floor(v: SampleVariant, th: Thresholds) -> bool:
    vaf = v.observation.vaf
    return vaf is not None and vaf < th.detection_floor


def _in_cis(a: SampleVariant, b: SampleVariant) -> bool:
    oa, ob = a.observation, b.observation
    return bool(
        oa.phased
        and ob.phased
        and oa.phase_set is not None
        and oa.phase_set == ob.phase_set
        and oa.haplotypes
        and set(oa.haplotypes) == set(ob.haplotypes)
    )


RESISTANT, LIKELY, UNCERTAIN = 3, 2, 1
_CALL: dict[int, CallValue] = {
    RESISTANT: "resistant",
    LIKELY: "likely_resistant",
    UNCERTAIN: "uncertain",
}


def _retains(rule: Rule, disease: str | None) -> bool:
    """A confirmed 'sensitivity retained' row that holds for this sample specifically.

    With no disease given, a disease-specific retention (venetoclax in TP53-mutant CLL) must
    not silence evidence that holds elsewhere (AML): only rows for any disease count then.
    """
    return (
        rule.effect == "sensitivity_retained"
        and rule.status == "confirmed"
        and (not rule.indications or (disease is not None and disease in rule.indications))
    )


def _function_notes(rule: Rule, v: SampleVariant, kb: KnowledgeBase) -> list[str]:
    if rule.kind != "function" or v.annotation is None:
        return []
    fn = kb.function_of(v.annotation)
    if fn is None:
        return []
    cls, data = fn
    if data is not None:
        return [data.describe()]
    if cls == "loss_of_function":
        return [f"{v.label}: truncating allele (loss of function)"]
    return [f"{v.label}: no measured function for this change ({cls})"]


def _call_drug(
    drug: str,
    kb: KnowledgeBase,
    transcripts: TranscriptSet,
    th: Thresholds,
    usable: list[SampleVariant],
    matches: list[list[Rule]],
    excluded: list[tuple[SampleVariant, list[Rule]]],
    coverage: _Coverage | None,
    disease: str | None,
    copy_number: Sequence[CopyNumberEvent],
    duplicates: dict[int, list[SampleVariant]],
) -> CallOut:
    rules = [r for r in kb.rules_for(drug) if r.used_in_calls]
    evidence: list[tuple[int, EvidenceOut]] = []
    caveats: list[str] = []
    grade = 0
    restricted: dict[str, str] = {}
    for i, (v, ms) in enumerate(zip(usable, matches, strict=True)):
        hits = [r for r in ms if drug in r.drugs]
        if not hits:
            continue
        # 'uncertain' rows are the fallback for an allele nothing more specific speaks to
        if any(r.effect != "uncertain" and r.applies_to(disease) for r in hits):
            hits = [r for r in hits if r.effect != "uncertain"]
        elif any(r.kind == "protein_change" for r in hits):  # the exact change beats its residue
            hits = [r for r in hits if r.kind != "residue"]
        for d in duplicates.get(i, []):
            caveats.append(
                f"{v.label}: identical duplicate observation ({d.observation.source} "
                f"{d.observation.record}) counted once"
            )
        restricted.update({r.id: r.indication_text for r in hits if r.indications})
        if _below_floor(v, th):
            for r in hits:
                evidence.append(
                    (
                        0,
                        _evidence(
                            r, v, [f"below the detection floor {th.detection_floor:g}: not called"]
                        ),
                    )
                )
            caveats.append(
                f"{v.label} at VAF {v.observation.vaf:.3g} is below the detection floor "
                f"{th.detection_floor:g} and was not used"
            )
            continue
        retained = [r for r in hits if _retains(r, disease)]
        limits = _allele_limits(v, th)
        for r in hits:
            fnotes = _function_notes(r, v, kb)
            if r.effect == "sensitivity_retained":
                if r in retained:
                    where = f" in {r.indication_text}" if r.indications else ""
                    evidence.append(
                        (0, _evidence(r, v, [f"{drug} keeps activity against this allele{where}"]))
                    )
                    caveats.append(
                        f"sensitivity retained: {drug} keeps activity against {v.label}{where} "
                        f"({r.id}, level {r.level})"
                    )
                else:
                    evidence.append(
                        (0, _evidence(r, v, [_other_disease(r, disease) + ": not applied"]))
                    )
                continue
            if r.effect == "no_known_effect":
                evidence.append((0, _evidence(r, v, fnotes)))
                continue
            if retained and not r.can_call_resistant or (retained and not r.applies_to(disease)):
                ids = ", ".join(x.id for x in retained)
                evidence.append(
                    (0, _evidence(r, v, [f"superseded by {ids} (sensitivity retained)", *fnotes]))
                )
                continue
            if not r.applies_to(disease):
                note = _other_disease(r, disease) + ": not established in this disease"
                evidence.append((UNCERTAIN, _evidence(r, v, [note, *fnotes])))
                grade = max(grade, UNCERTAIN)
                continue
            if r.effect == "uncertain":
                evidence.append((UNCERTAIN, _evidence(r, v, fnotes)))
                grade = max(grade, UNCERTAIN)
                continue
            notes = r.weakness() + limits
            if retained:
                notes.append(
                    f"conflicts with {', '.join(x.id for x in retained)} (sensitivity retained)"
                )
            g = RESISTANT if r.can_call_resistant and not notes else LIKELY
            if g == LIKELY and r.can_call_resistant and limits:
                caveats.append(f"{v.label}: at most likely_resistant: {'; '.join(limits)}")
            grade = max(grade, g)
            evidence.append((g, _evidence(r, v, [*notes, *fnotes])))
    grade = max(
        grade,
        _biallelic(drug, kb, transcripts, th, rules, usable, matches, evidence, caveats, disease,
                   copy_number),
    )  # fmt: skip
    if disease is None and restricted:
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(restricted.items()))
        caveats.append(
            f"no disease given: the evidence for {drug} differs by disease ({parts}); "
            "give the sample's disease (OncoTree code) for a call that holds for it"
        )
    for v, ms in excluded:
        hits = [r for r in ms if drug in r.drugs]
        if any(r.effect != "uncertain" for r in hits):
            hits = [r for r in hits if r.effect != "uncertain"]
        hit_ids = sorted({r.id for r in hits})
        if hit_ids:
            caveats.append(
                f"{v.label} matches {', '.join(hit_ids)} but was excluded (FILTER "
                f"{','.join(v.observation.filters) or 'not PASS'}) and not used"
            )

    loci = kb.loci(drug, transcripts)
    cov: CoverageValue
    uncovered: list[str] = []
    if coverage is None:
        cov = "unknown"
    else:
        uncovered = [f"{lab} {c}:{a}-{b}" for lab, c, a, b in loci if not coverage.covers(c, a, b)]
        cov = (
            "covered"
            if not uncovered
            else ("not_covered" if len(uncovered) == len(loci) else "partial")
        )
    call: CallValue
    if grade:
        call = _CALL[grade]
    else:
        unreadable = [
            v.label
            for v in usable
            if v.annotation is not None
            and (v.annotation.protein is None or v.annotation.protein.kind == "unknown")
            and any(c == v.annotation.variant.chrom and v.annotation.variant.pos <= b
                    and v.annotation.variant.end >= a for _, c, a, b in loci)
        ]  # fmt: skip
        if unreadable:
            call = "not_assessed"
            caveats.append(
                f"protein effect of {', '.join(unreadable)} unknown at a locus that matters "
                f"for {drug}: cannot rule resistance out"
            )
        elif coverage is None:
            call = "no_known_resistance"
            caveats.append(
                "coverage unknown: the input says nothing about which positions were sequenced "
                "(plain VCF); "
                + (
                    "no other resistance variant was reported, wild type elsewhere is not "
                    "established"
                    if evidence
                    else "no resistance variant was reported, wild type is not established"
                )
            )
        elif uncovered:
            call = "not_assessed"
        else:
            call = "no_known_resistance"
    if not any(r.can_call_resistant for r in rules):
        best = min(
            (r.level for r in rules if r.effect in ("resistance", "reduced_sensitivity")),
            default="E",
        )
        caveats.append(
            f"no rule for {drug} can call resistant (best level {best}; none is confirmed, "
            "clinical and allele-specific): at most likely_resistant"
        )
    evidence.sort(key=lambda e: (-e[0], e[1].rule_id))
    return CallOut(
        drug=drug,
        drug_class=kb.drugs[drug],
        call=call,
        coverage=cov,
        evidence=[e for _, e in evidence],
        caveats=list(dict.fromkeys(caveats)),
        uncovered_loci=uncovered,
        disease=disease,
    )


def _other_disease(rule: Rule, disease: str | None) -> str:
    return f"evidence holds for {rule.indication_text}, the sample's disease is {disease or 'not given'}"


def _allele(v: SampleVariant) -> str:
    return str(v.annotation.variant) if v.annotation is not None else v.label


def _gene_span(transcripts: TranscriptSet, gene: str) -> tuple[str, int, int] | None:
    tx = transcripts.mane.get(gene)
    if tx is None:
        return None
    return tx.chrom, min(s for s, _ in tx.exons), max(e for _, e in tx.exons)


def _biallelic(
    drug: str,
    kb: KnowledgeBase,
    transcripts: TranscriptSet,
    th: Thresholds,
    rules: list[Rule],
    usable: list[SampleVariant],
    matches: list[list[Rule]],
    evidence: list[tuple[int, EvidenceOut]],
    caveats: list[str],
    disease: str | None,
    copy_number: Sequence[CopyNumberEvent],
) -> int:
    """Evaluate biallelic rules for ``drug``: LIKELY when one is satisfied by evidence.

    Evidence is two distinct alleles of the group not known to be in cis, one allele
    homozygous or at VAF >= ``biallelic_vaf``, or one allele plus a deletion / copy-neutral LOH
    of the gene given as input. Linear in the number of alleles (only the first pair is used).
    """
    grade = 0
    for rule in (r for r in rules if r.kind == "biallelic" and r.applies_to(disease)):
        members = [
            v
            for v, ms in zip(usable, matches, strict=True)
            if not _below_floor(v, th)
            and any(r.group == rule.variant and r.gene == rule.gene for r in ms)
        ]
        if not members:
            continue
        hom = next(
            (
                v
                for v in members
                if v.homozygous() or (v.observation.vaf or 0.0) >= th.biallelic_vaf
            ),
            None,
        )
        first = members[0]
        second = next(
            (b for b in members[1:] if not _in_cis(first, b) and _allele(b) != _allele(first)),
            None,
        )
        span = _gene_span(transcripts, rule.gene)
        loss = [
            e
            for e in copy_number
            if span is not None
            and e.kind in ("deletion", "cn_loh")
            and e.chrom == span[0]
            and e.start <= span[2]
            and e.end >= span[1]
        ]
        if hom is not None:
            why = (
                f"one {rule.variant} allele, homozygous or at VAF >= {th.biallelic_vaf:g}: "
                "loss of the other allele inferred"
            )
            used = [hom]
        elif second is not None:
            used = [first, second]
            phased = all(x.observation.phased for x in used)
            why = f"two {rule.variant} alleles" + (
                "" if phased else " (phase unknown, assumed in trans)"
            )
        elif loss:
            e = loss[0]
            label = "deletion" if e.kind == "deletion" else "copy-neutral LOH"
            why = (
                f"one {rule.variant} allele with {rule.gene} {label} {e.chrom}:{e.start}-{e.end} "
                f"({e.source} {e.record})"
            )
            used = [first]
        else:
            caveats.append(
                f"{rule.id}: one {rule.variant} allele ({', '.join(v.label for v in members)}); "
                f"biallelic status not established (no second distinct allele, VAF below "
                f"{th.biallelic_vaf:g}, no {rule.gene} deletion or LOH given as input)"
            )
            continue
        notes = [why, *rule.weakness()]
        for v in used:
            evidence.append((LIKELY, _evidence(rule, v, notes)))
        grade = LIKELY
    return grade


def _describe(v: SampleVariant, unconfirmed: list[Rule]) -> str:
    a = v.annotation
    assert a is not None
    text = f"{a.gene} {a.hgvs_c}"
    if a.hgvs_p:
        text += f" {a.hgvs_p}"
    if a.hgvs_p_legacy:
        text += f" ({a.hgvs_p_legacy})"
    if unconfirmed:
        ids = ", ".join(sorted({r.id for r in unconfirmed}))
        text += f" [matches unconfirmed {ids}: not used for calls]"
    return text


def call_sample(
    variants: Sequence[SampleVariant],
    coverage: Sequence[CoveredInterval] | None,
    kb: KnowledgeBase,
    transcripts: TranscriptSet,
    thresholds: Thresholds | None = None,
    *,
    disease: str | None = None,
    copy_number: Sequence[CopyNumberEvent] = (),
) -> tuple[list[CallOut], list[str]]:
    """Calls for every drug of ``kb`` for one sample, plus its unclassified gene variants.

    ``coverage`` None means the input says nothing about coverage (plain VCF). Otherwise the
    given intervals (and the sites of the sample's passing variants) are what was seen; blocks
    below ``thresholds.min_depth`` do not count. Unclassified = passing variants in the four
    genes that match no usable rule, described by their HGVS. ``disease`` is the sample's
    OncoTree code (None: not given); ``copy_number`` the sample's deletions / LOH given as input.
    """
    th = thresholds or Thresholds()
    th.check()
    usable: list[SampleVariant] = []
    duplicates: dict[int, list[SampleVariant]] = {}
    seen: dict[tuple[object, ...], int] = {}
    for v in variants:
        if v.excluded or v.annotation is None:
            continue
        o = v.observation
        key = (str(v.annotation.variant), o.genotype, o.vaf, o.depth, o.alt_depth)
        if key in seen:  # the same allele observed twice is one observation
            duplicates.setdefault(seen[key], []).append(v)
            continue
        seen[key] = len(usable)
        usable.append(v)
    matches = [kb.match(v.annotation) for v in usable if v.annotation is not None]
    excluded = [
        (v, kb.match(v.annotation)) for v in variants if v.excluded and v.annotation is not None
    ]
    cov: _Coverage | None = None
    if coverage is not None:
        sites = [
            CoveredInterval(v.annotation.variant.chrom, v.annotation.variant.pos,
                            v.annotation.variant.end, v.observation.depth, "variant_site")
            for v in usable
            if v.annotation is not None
        ]  # fmt: skip
        cov = _Coverage([*coverage, *sites], th.min_depth)
    calls = [
        _call_drug(d, kb, transcripts, th, usable, matches, excluded, cov, disease, copy_number,
                   duplicates)
        for d in kb.drugs
    ]  # fmt: skip
    unclassified = []
    for v, ms in zip(usable, matches, strict=True):
        if not ms and v.annotation is not None:
            unconfirmed = kb.match(v.annotation, include_unconfirmed=True)
            unclassified.append(_describe(v, unconfirmed))
    return calls, unclassified
