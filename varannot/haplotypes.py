"""Same-codon changes on one haplotype become one amino-acid change (as bcftools csq does).

Two SNVs in one codon read separately can both look missense while together they make a
different residue (or a stop). They are merged only when the input proves they are in cis:
one Sanger read, the same phase set with a shared haplotype, or both homozygous. Otherwise
each keeps its own annotation and is flagged ``same_codon_unphased``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .annotate import AlleleAnnotation, Annotator
from .models import Annotation, Observation


def _codons(ann: Annotation, annotator: Annotator) -> set[int]:
    tx = annotator.transcripts.mane[ann.gene]
    v = ann.variant
    if len(v.ref) != len(v.alt):
        return set()
    out = set()
    for g in range(v.pos, v.pos + len(v.ref)):
        c = tx.codon_of(g)
        if c is not None:
            out.add(c)
    return out


def _cis(a: Observation, b: Observation) -> bool:
    if a.read_group is not None and a.read_group == b.read_group:
        return True
    homo = {"1/1", "1|1", "1"}
    if a.genotype in homo and b.genotype in homo:
        return True
    if a.phased and b.phased and a.phase_set == b.phase_set:
        return bool(set(a.haplotypes) & set(b.haplotypes))
    return False


def merge_same_codon(
    items: Sequence[tuple[Observation, AlleleAnnotation]], annotator: Annotator
) -> list[tuple[Annotation | None, list[str]]]:
    """Per item: the merged haplotype annotation (or None) and flags to add."""
    result: list[tuple[Annotation | None, list[str]]] = [(None, []) for _ in items]
    by_codon: dict[tuple[str, int], list[int]] = {}
    for i, (_, res) in enumerate(items):
        ann = res.annotation
        if ann is None or ann.protein is None:
            continue
        for c in _codons(ann, annotator):
            by_codon.setdefault((ann.gene, c), []).append(i)
    done: set[frozenset[int]] = set()
    for idxs in by_codon.values():
        uniq = sorted(set(idxs))
        if len(uniq) < 2:
            continue
        # cis components (transitive closure of pairwise cis)
        groups: list[set[int]] = []
        for i in uniq:
            home = [g for g in groups if any(_cis(items[i][0], items[j][0]) for j in g)]
            merged = {i}.union(*home) if home else {i}
            groups = [g for g in groups if g not in home] + [merged]
        for g in groups:
            if len(g) == 1:
                (i,) = g
                if "same_codon_unphased" not in result[i][1]:
                    result[i][1].append("same_codon_unphased")
                continue
            key = frozenset(g)
            if key in done:
                continue
            done.add(key)
            hap = _combine([items[i][1] for i in sorted(g)], annotator)
            for i in g:
                result[i] = (hap, [*result[i][1], "same_codon_phased"])
        if len(groups) > 1:
            for g in groups:
                for i in g:
                    if "same_codon_unphased" not in result[i][1]:
                        result[i][1].append("same_codon_unphased")
    return result


def _combine(parts: list[AlleleAnnotation], annotator: Annotator) -> Annotation | None:
    anns = [p.annotation for p in parts if p.annotation is not None]
    if not anns:
        return None
    gene = anns[0].gene
    chrom = anns[0].variant.chrom
    lo = min(a.variant.pos for a in anns)
    hi = max(a.variant.pos + len(a.variant.ref) - 1 for a in anns)
    w = annotator.windows[gene]
    seq = list(w.get(lo, hi))
    for a in anns:
        for k, base in enumerate(a.variant.alt):
            seq[a.variant.pos - lo + k] = base
    res = annotator.annotate(chrom, lo, w.get(lo, hi), "".join(seq))
    return res.annotation
