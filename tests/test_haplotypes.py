"""Same-codon merging on real TP53 coordinates: codon 175 (CGC, Arg).

c.523C>T alone is p.(Arg175Cys) and c.524G>A alone is p.(Arg175His); on one haplotype they
make TAC, p.(Arg175Tyr). Only phase (same phase set and haplotype, or one Sanger read) may
merge them.
"""

from __future__ import annotations

from varannot.annotate import Annotator
from varannot.haplotypes import merge_same_codon
from varannot.models import Observation


def _obs(pos: int, ref: str, alt: str, **kw: object) -> Observation:
    return Observation(
        sample="S1",
        chrom="chr17",
        pos=pos,
        ref=ref,
        alt=alt,
        source="t.vcf",
        record=f"line {pos}",
        **kw,
    )  # type: ignore[arg-type]


def _items(a: Annotator, obs: list[Observation]):  # type: ignore[no-untyped-def]
    return [(o, a.annotate(o.chrom, o.pos, o.ref, o.alt)) for o in obs]


def test_singletons(annotator38: Annotator) -> None:
    items = _items(annotator38, [_obs(7675089, "G", "A"), _obs(7675088, "C", "T")])
    assert [r.annotation.protein.short for _, r in items] == ["R175C", "R175H"]  # type: ignore[union-attr]


def test_phased_cis_merges(annotator38: Annotator) -> None:
    obs = [
        _obs(7675089, "G", "A", genotype="0|1", phased=True, phase_set="7675000", haplotypes=(1,)),
        _obs(7675088, "C", "T", genotype="0|1", phased=True, phase_set="7675000", haplotypes=(1,)),
    ]
    merged = merge_same_codon(_items(annotator38, obs), annotator38)
    for hap, flags in merged:
        assert hap is not None and hap.protein is not None
        assert hap.hgvs_c == "NM_000546.6:c.523_524delinsTA"
        assert hap.hgvs_p == "NP_000537.3:p.(Arg175Tyr)"
        assert flags == ["same_codon_phased"]


def test_phased_trans_stays_apart(annotator38: Annotator) -> None:
    obs = [
        _obs(7675089, "G", "A", genotype="1|0", phased=True, phase_set="7675000", haplotypes=(0,)),
        _obs(7675088, "C", "T", genotype="0|1", phased=True, phase_set="7675000", haplotypes=(1,)),
    ]
    merged = merge_same_codon(_items(annotator38, obs), annotator38)
    assert merged == [(None, ["same_codon_unphased"]), (None, ["same_codon_unphased"])]


def test_unphased_flagged(annotator38: Annotator) -> None:
    obs = [_obs(7675089, "G", "A", genotype="0/1"), _obs(7675088, "C", "T", genotype="0/1")]
    merged = merge_same_codon(_items(annotator38, obs), annotator38)
    assert [f for _, f in merged] == [["same_codon_unphased"], ["same_codon_unphased"]]


def test_one_sanger_read_merges(annotator38: Annotator) -> None:
    obs = [
        _obs(7675089, "G", "A", origin="trace", read_group="S1_F.ab1"),
        _obs(7675088, "C", "T", origin="trace", read_group="S1_F.ab1"),
    ]
    merged = merge_same_codon(_items(annotator38, obs), annotator38)
    assert all(
        h is not None and h.protein is not None and h.protein.short == "R175Y" for h, _ in merged
    )


def test_different_codons_untouched(annotator38: Annotator) -> None:
    obs = [
        _obs(7675088, "C", "T", genotype="0|1", phased=True),
        _obs(7674220, "C", "T", genotype="0|1", phased=True),
    ]
    assert merge_same_codon(_items(annotator38, obs), annotator38) == [(None, []), (None, [])]
