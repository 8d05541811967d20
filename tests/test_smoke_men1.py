"""MEN1 numbering on the SYNTHETIC MEN1 region (see tests/synthetic.py)."""

from varannot.annotate import Annotator


def test_men1_m322i_is_published_m327i(men1_annotator38: Annotator) -> None:
    mane = men1_annotator38.transcripts.mane["MEN1"]
    g1, g2, g3 = mane.codon_genomic(322)
    # synthetic codon for Met is ATG; on the minus strand the G of ATG is the lowest base (g3)
    r = men1_annotator38.annotate("chr11", g3, "C", "T")  # ATG -> ATA (Ile)
    a = r.annotation
    assert a is not None
    assert a.hgvs_c == "NM_001370259.2:c.966G>A"
    assert a.hgvs_p == "NP_001357188.2:p.(Met322Ile)"
    assert a.protein is not None and a.protein.short == "M322I"
    assert a.hgvs_p_legacy == "NP_000235.2:p.(Met327Ile)"
    assert a.legacy_protein is not None and a.legacy_protein.short == "M327I"
    assert a.hgvs_c_legacy == "NM_000244.3:c.981G>A"
