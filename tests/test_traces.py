"""Sanger traces: readers, caller, combination of reads, plots.

Real traces are READ from ``../shared/testdata-sources/traces`` (third-party data, never copied
into the repository); without that folder these tests skip, or fail when ``CI=true``.
Tests marked SYNTHETIC use traces simulated by ``varannot.sanger.simulate`` from the real TP53 GRCh38
sequence (read from ``../shared`` at test time): no public TP53/MEN1/BCL2/BAX Sanger traces
with known resistance mutations exist.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
from conftest import SHARED, require_shared

from varannot.errors import InputError
from varannot.models import InputBatch, Observation, ReferenceRegion
from varannot.readers.trace import read_trace
from varannot.sanger import call_traces, mott_trim
from varannot.sanger.simulate import SimTrace, SimVariant, simulate_trace, write_abif, write_scf

TRACES = SHARED / "testdata-sources" / "traces"
TP53_FA = (
    SHARED
    / "reference-sources/genomic/TP53_GRCh38_chr17_7659779-7692550_plus_strand_from_NG_017013.2.fa"
)
TP53_START = 7659779


def shared_traces() -> Path:
    require_shared()  # fails under CI=true, skips elsewhere
    return TRACES


def fasta_seq(path: Path) -> str:
    return "".join(ln.strip() for ln in path.open() if not ln.startswith(">")).upper()


def obs_keys(batch: InputBatch) -> set[tuple[str, int, str, str, str | None]]:
    return {(o.chrom, o.pos, o.ref, o.alt, o.genotype) for o in batch.observations}


def det(batch: InputBatch) -> Any:
    """The free-form details dict (JSON-shaped; typed loosely on purpose)."""
    return batch.details


def vaf(o: Observation) -> float:
    assert o.vaf is not None
    return o.vaf


# --------------------------------------------------------------------------------------------
# (1) every real trace file parses or fails with a specific InputError

# path -> (format, bases, scans, first 12 calls) or ("error", exact message)
GOLDEN: dict[str, tuple[str, int, int, str] | tuple[str, str]] = {
    "biopython_Tests_Abi/310.ab1": ("ABIF", 868, 9826, "TGATNTTNACNN"),
    "biopython_Tests_Abi/3100.ab1": ("ABIF", 795, 10303, "CAAGATTGCATT"),
    "biopython_Tests_Abi/3730.ab1": ("ABIF", 1165, 16302, "GGGCGAGCKYYA"),
    "biopython_Tests_Abi/A6_1-DB3.ab1": ("ABIF", 839, 10014, "NNNNNNNNNNCN"),
    "biopython_Tests_Abi/empty.ab1": ("ABIF", 5, 12654, "NNNNN"),
    "biopython_Tests_Abi/fake.ab1": ("error", "not an ABIF or SCF file (first bytes b'This is ')"),
    "biopython_Tests_Abi/no_smpl1.ab1": ("ABIF", 164, 15716, "CGATGGGCCTTC"),
    "biopython_Tests_Abi/nonascii_encoding.ab1": ("ABIF", 1076, 13053, "NNNNNNNNNNCT"),
    "biopython_Tests_Abi/test.fsa": (
        "error",
        "no base calls (PBAS2 missing) (fragment-analysis file?)",
    ),
    "emboss_test/abiview.abi": ("ABIF", 838, 9821, "GNNNNNNNNNGN"),
    "indigo_gear-genomics/sample.abi": ("ABIF", 543, 6541, "AATATTTGCAAT"),
    "sangerseqR/PolyPeakParser_example.ab1": ("ABIF", 604, 16184, "GGGCRATCCAAA"),
    "sangerseqR/heterozygous.ab1": ("ABIF", 605, 16215, "GGGGCATAAGAR"),
    "sangerseqR/heterozygous.scf": ("SCF 3.00", 605, 16215, "GGGGCATAAGAR"),
    "sangerseqR/homozygous.scf": ("SCF 3.00", 722, 16275, "ARGKRAMMYWAC"),
    "sangerseqR/noprintabif.ab1": ("ABIF", 692, 7823, "NNNNNNNTNNNG"),
    "synthego_ice_crispr_human/donor_example_control.ab1": ("ABIF", 679, 8140, "NNNNNCATCNGA"),
    "synthego_ice_crispr_human/donor_example_knockin.ab1": ("ABIF", 694, 8226, "GNNNAGNATCNN"),
    "synthego_ice_crispr_human/donor_sub_example_control.ab1": ("ABIF", 762, 9162, "NNNNNTANNCGC"),
    "synthego_ice_crispr_human/donor_sub_example_edited.ab1": ("ABIF", 764, 9124, "NNNNNNNNNNCG"),
    "synthego_ice_crispr_human/good_example_control.ab1": ("ABIF", 330, 3962, "NNNNNNGGGGCA"),
    "synthego_ice_crispr_human/good_example_edited.ab1": ("ABIF", 333, 4006, "NNNANNANNGGG"),
    "thalassemia_hbb_hba_human/25922_ThaMuv7_T0128.ab1": ("ABIF", 295, 11034, "CGGTGCGGGAGG"),
    "thalassemia_hbb_hba_human/BB1410006_ThaMuv7_T0024.ab1": ("ABIF", 815, 9866, "ACGAGCTTGGTT"),
    "thalassemia_hbb_hba_human/BB1410006_ThaMuv7_T0128.ab1": ("ABIF", 798, 9841, "CAGAGTGTAGCG"),
    "thalassemia_hbb_hba_human/BB1410007_ThaMuv7_T0128.ab1": ("ABIF", 841, 10102, "CGGGAAGGTGTA"),
    "thalassemia_hbb_hba_human/BB1410016_ThaMuv7_T0133.ab1": ("ABIF", 806, 9890, "GTTTTTTCCCCC"),
    "thalassemia_hbb_hba_human/KT1760018_ThaMuv7_T0128.ab1": ("ABIF", 287, 11214, "CGGGAGTGTAGC"),
    "thalassemia_hbb_hba_human/Wanchen_ThaMuv7_T0024.ab1": ("ABIF", 828, 9961, "CACGGCGCTGGA"),
    "thalassemia_hbb_hba_human/client1_ThaMuv7_T0023.ab1": ("ABIF", 768, 9257, "AGGAGGCCACCC"),
    "vwf_family_human/1-VMF-23R_E06.ab1": ("ABIF", 931, 12793, "CACTCCCTTTCA"),
    "vwf_family_human/1-VMF-27F_D07.ab1": ("ABIF", 356, 13288, "AAGCAAGTAGCC"),
    "vwf_family_human/1-VMF-33F_D08.ab1": ("ABIF", 340, 12534, "GAGGTCCTATGT"),
    "vwf_family_human/1-VMF-39F_D09.ab1": ("ABIF", 468, 12700, "GAGTGGTATCCG"),
    "vwf_family_human/2-VMF-23R_F11.ab1": ("ABIF", 840, 12157, "TAGCTTCAGTCC"),
    "vwf_family_human/2-VMF-27F_F07.ab1": ("ABIF", 345, 12748, "TAGCCAATGTTG"),
    "vwf_family_human/2-VMF-33F_F08.ab1": ("ABIF", 347, 13188, "TCGGTCCCTAGG"),
    "vwf_family_human/2-VMF-39F_F09.ab1": ("ABIF", 461, 12813, "CGGTTCGCATGT"),
    "vwf_family_human/3-VMF-23R_A07.ab1": ("ABIF", 1044, 12552, "TACCCCCTTCAG"),
    "vwf_family_human/3-VMF-27F_H07.ab1": ("ABIF", 363, 12173, "AACCACTGTTGC"),
    "vwf_family_human/3-VMF-33R_C09.ab1": ("ABIF", 467, 12584, "AGCATGTAGAGA"),
    "vwf_family_human/3-VMF-39F_H09.ab1": ("ABIF", 466, 12250, "CCTAAACGTACG"),
    "vwf_family_human/4-VMF-23R_C07.ab1": ("ABIF", 474, 12594, "TAACCCCATTCA"),
    "vwf_family_human/4-VMF-27F_B08.ab1": ("ABIF", 473, 12944, "TTTCTATAGGAG"),
    "vwf_family_human/4-VMF-33F_B09.ab1": ("ABIF", 464, 12419, "AGGCTACTATGT"),
    "vwf_family_human/4-VMF-39F_B10.ab1": ("ABIF", 719, 12572, "GAGGATTGCCGC"),
    "vwf_family_human/QJL-VWF-13-VWF-13F_E02.ab1": ("ABIF", 484, 11828, "CCCGGTGCCGTC"),
    "vwf_family_human/QJL-VWF-23-VWF-23R_G09.ab1": ("ABIF", 978, 11633, "ACGCCCGTTTCA"),
    "vwf_family_human/QJL-VWF-27-VWF-27F_C04.ab1": ("ABIF", 402, 12363, "CCCGCATTCTGC"),
    "vwf_family_human/QJL-VWF-28-1-VWF-28-1F_D02.ab1": ("ABIF", 980, 14489, "TGGCAAATTACC"),
    "vwf_family_human/QJL-VWF-28-1-VWF-28-1R_E02.ab1": ("ABIF", 979, 15258, "CCGGGTTACGGA"),
    "vwf_family_human/QJL-VWF-33-VWF-33F_B05.ab1": ("ABIF", 438, 12084, "GACTCGCTATGG"),
    "vwf_family_human/QJL-VWF-34-VWF-34F_C05.ab1": ("ABIF", 556, 12331, "TGGAACCTACTA"),
    "vwf_family_human/QJL-VWF-39-VWF-39F_H05.ab1": ("ABIF", 544, 11407, "CGGGCGGAATGG"),
    "vwf_family_human/QJL-VWF-42-VWF-42F_C06.ab1": ("ABIF", 551, 12435, "GGGGGCTATATT"),
    "vwf_family_human/QJL-VWF-5-VWF-5F_E01.ab1": ("ABIF", 561, 12050, "CCGACCAGCATG"),
}


def test_golden_table_covers_every_trace_file() -> None:
    root = shared_traces()
    on_disk = {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.suffix.lower() in {".ab1", ".abi", ".scf", ".fsa"}
    }
    assert on_disk == set(GOLDEN)


@pytest.mark.parametrize("rel", sorted(GOLDEN))
def test_real_trace_parses_or_fails_specifically(rel: str) -> None:
    path = shared_traces() / rel
    expected = GOLDEN[rel]
    if expected[0] == "error":
        with pytest.raises(InputError) as err:
            read_trace(path)
        assert err.value.message == expected[1]
        assert err.value.source == str(path)
        return
    fmt, n_bases, n_scans, head = expected  # type: ignore[misc]
    t = read_trace(path)
    assert (t.fmt, len(t), t.n_scans, t.bases[:12]) == (fmt, n_bases, n_scans, head)
    assert len(t.qualities) == len(t.peak_locations) == n_bases
    assert sorted(t.channels) == ["A", "C", "G", "T"]
    assert all(len(v) == n_scans for v in t.channels.values())
    assert int(t.peak_locations.max()) < n_scans


def test_provider_seq_files_are_the_pbas2_calls() -> None:
    """Each lab-exported .seq is a substring of the PBAS2 calls we read (independent check)."""
    root = shared_traces() / "vwf_family_human"
    seqs = sorted(root.glob("*.seq"))
    assert len(seqs) == 10
    for seq_file in seqs:
        seq = fasta_seq(seq_file)
        assert seq in read_trace(seq_file.with_suffix(".ab1")).bases, seq_file.name


def test_scf_rendering_equals_abif_of_the_same_read() -> None:
    """sangerseqR ships one read as ABIF and as SCF v3: delta-delta decoding must be exact."""
    root = shared_traces() / "sangerseqR"
    a, s = read_trace(root / "heterozygous.ab1"), read_trace(root / "heterozygous.scf")
    assert a.bases == s.bases
    assert np.array_equal(a.peak_locations, s.peak_locations)
    for b in "ACGT":
        assert np.array_equal(a.channels[b], s.channels[b])
    # The SCF has all-zero probabilities, so qualities are derived (and said to be).
    assert s.warnings == ["no base qualities in file; derived from peak purity"]
    assert a.warnings == []


def test_old_emboss_abif_is_salvaged_from_the_tags_we_need() -> None:
    """Biopython raises AssertionError on abiview.abi (tag SRKP1 declares 36 bytes, holds 144)."""
    t = read_trace(shared_traces() / "emboss_test" / "abiview.abi")
    assert t.warnings[0] == "Biopython could not parse every tag (AssertionError); read ours"
    assert t.sample_name == "290h11g6h5.q1da"
    assert "no base qualities in file; derived from peak purity" in t.warnings


def test_unplaceable_real_trace_is_skipped_not_fatal() -> None:
    """empty.ab1 (5 'N' calls) reads fine but has nothing to place."""
    ref = ReferenceRegion(name="r", chrom="r", start=1, sequence="ACGT" * 50)
    batch = call_traces(
        [shared_traces() / "biopython_Tests_Abi/empty.ab1"], sample=None, references=[ref]
    )
    assert batch.samples == ["empty"]
    # coverage is known and empty: nothing was seen (not "unknown" like a plain VCF)
    assert batch.observations == [] and batch.coverage == {"empty": []}
    assert batch.skipped.counts == {"trace too short": 1}
    info = det(batch)["traces"][0]
    assert info["placed"] is False and info["status"] == "too_short"
    assert info["reason"] == "too short: 0 base calls (A/C/G/T) in 5; at least 40 needed"
    assert det(batch)["failed_traces"] == [
        {"trace": "empty.ab1", "status": "too_short", "reason": info["reason"]}
    ]


# --- damaged files, made in tmp from a synthetic read


@pytest.fixture(scope="module")
def tp53() -> str:
    if not TP53_FA.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {TP53_FA} is missing")
        pytest.skip(f"{TP53_FA} not present")
    return fasta_seq(TP53_FA)


@pytest.fixture(scope="module")
def tp53_region(tp53: str) -> ReferenceRegion:
    return ReferenceRegion(name="TP53", chrom="chr17", start=TP53_START, sequence=tp53, gene="TP53")


def g(pos: int) -> int:
    """0-based index in the TP53 record of a GRCh38 chr17 position."""
    return pos - TP53_START


@pytest.fixture(scope="module")
def small_sim(tp53: str) -> SimTrace:
    return simulate_trace(tp53, [], start=g(7674000), length=300, seed=5, name="small.ab1")


def _patch_abif_entry(data: bytearray, tag: str, number: int, field: str, value: int) -> None:
    _, _, _, _, count, _, offset, _ = struct.unpack_from(">4sihhiiii", data, 6)
    for k in range(count):
        at = offset + 28 * k
        name, num = struct.unpack_from(">4si", data, at)
        if name == tag.encode() and num == number:
            where = {"offset": 20, "type": 8}[field]
            struct.pack_into(">i" if field == "offset" else ">h", data, at + where, value)
            return
    raise AssertionError(f"{tag}{number} not in file")


def test_damaged_files_fail_with_specific_messages(small_sim: SimTrace, tmp_path: Path) -> None:
    good = bytearray(write_abif(small_sim, tmp_path / "good.ab1").read_bytes())
    cases: dict[str, tuple[bytes, str]] = {}
    cases["zero.ab1"] = (b"", "empty file (0 bytes)")
    cases["png.ab1"] = (b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "not an ABIF or SCF file")
    cases["header.ab1"] = (bytes(good[:20]), "truncated: ABIF header is 20 bytes (needs 34)")
    dir_offset = struct.unpack_from(">i", good, 26)[0]
    cases["cut.ab1"] = (bytes(good[: dir_offset + 100]), "truncated: ABIF directory (")
    moved = bytearray(good)
    _patch_abif_entry(moved, "PBAS", 2, "offset", len(good) + 10)
    cases["moved.ab1"] = (
        bytes(moved),
        "truncated: directory entry PBAS2 points beyond end of file",
    )
    retyped = bytearray(good)
    _patch_abif_entry(retyped, "DATA", 9, "type", 99)
    cases["retyped.ab1"] = (
        bytes(retyped),
        "ABIF tag DATA9 has unexpected type 99 (expected [4, 5])",
    )
    bad_order = bytearray(good)
    at = bad_order.find(b"GATC", 128)
    bad_order[at : at + 4] = b"GATX"
    cases["order.ab1"] = (bytes(bad_order), "dye order FWO_1 is 'GATX'")
    scf = bytearray(write_scf(small_sim, tmp_path / "good.scf").read_bytes())
    cases["cut.scf"] = (bytes(scf[:5000]), "truncated: SCF samples (")
    size3 = bytearray(scf)
    struct.pack_into(">I", size3, 40, 3)
    cases["size3.scf"] = (bytes(size3), "SCF sample size 3 bytes (only 1 or 2 exist)")
    version = bytearray(scf)
    version[36:40] = b"x.yz"
    cases["version.scf"] = (bytes(version), "SCF version field b'x.yz' is not a number")
    for name, (content, message) in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(InputError) as err:
            read_trace(p)
        assert err.value.message.startswith(message), (name, err.value.message)
        assert err.value.source == str(p)
    # ... and call_traces propagates them (the CLI turns InputError into exit code 2).
    with pytest.raises(InputError, match="empty file"):
        call_traces([tmp_path / "zero.ab1"], sample="x", references=[])


def test_macbinary_wrapped_abif_and_biopython_interop(small_sim: SimTrace, tmp_path: Path) -> None:
    from Bio import SeqIO

    p = write_abif(small_sim, tmp_path / "sim.ab1")
    rec = SeqIO.read(p, "abi")  # Biopython reads what the simulator writes
    assert str(rec.seq) == small_sim.bases
    assert rec.letter_annotations["phred_quality"] == small_sim.qualities.tolist()
    wrapped = tmp_path / "wrapped.ab1"
    wrapped.write_bytes(b"\0" * 128 + p.read_bytes())
    t = read_trace(wrapped)
    assert t.bases == small_sim.bases
    assert np.array_equal(t.channels["G"], small_sim.channels["G"])


# --------------------------------------------------------------------------------------------
# (2) documented human variants


@pytest.fixture(scope="module")
def vwf_ref() -> ReferenceRegion:
    seq = fasta_seq(shared_traces() / "vwf_family_human/NM_000552.4.derived_from_aln.fa")
    return ReferenceRegion(name="NM_000552.4", chrom="NM_000552.4", start=1, sequence=seq)


# The lab's table (VWF_sequencing_data_variant_table.tsv) gives an unstated genomic "Position"
# and, for rs rows, NM_000552.3 mRNA positions; NM_000552.4 = NM_000552.3 + 5 (the needle
# alignment has one 5-nt gap, at the 5' end), and per exon Position - mRNA is constant, which
# places the novel rows too. CDS starts at NM_000552.4:256 (c.1), so every call below is also
# checked against the table's codon change / NP_000543.2 residue.
# (trace, table Position, label, NM_000552.4 pos, REF, ALT, GT, codon before, codon after, residue)
VWF_DOCUMENTED = [
    ("QJL-VWF-5-VWF-5F_E01.ab1", 14155, "rs2229444 S130=", 645, "C", "T", "0/1", "TCC", "TCT", 130),
    ("QJL-VWF-13-VWF-13F_E02.ab1", 61635, "rs1800378 H484R", 1706, "A", "G", "0/1", "CAT", "CGT", 484),
    ("QJL-VWF-23-VWF-23R_G09.ab1", 98671, "rs749285654 N1005S", 3269, "A", "G", "0/1", "AAT", "AGT", 1005),
    ("QJL-VWF-23-VWF-23R_G09.ab1", 98749, "novel C1031S", 3347, "G", "C", "0/1", "TGT", "TCT", 1031),
    ("QJL-VWF-27-VWF-27F_C04.ab1", 102680, "syn TGT>TGC", 3843, "T", "C", "0/1", "TGT", "TGC", 1196),
    ("QJL-VWF-27-VWF-27F_C04.ab1", 102688, "syn CCA>CCG", 3846, "A", "G", "0/1", "CCA", "CCG", 1197),
    ("QJL-VWF-27-VWF-27F_C04.ab1", 102707, "rs769502210 R1204W", 3865, "C", "T", "0/1", "CGG", "TGG", 1204),
    ("QJL-VWF-27-VWF-27F_C04.ab1", 102722, "novel G1209R", 3880, "G", "A", "0/1", "GGA", "AGA", 1209),
    ("QJL-VWF-33-VWF-33F_B05.ab1", 112555, "novel C1879R", 5890, "T", "C", "0/1", "TGC", "CGC", 1879),
    ("QJL-VWF-34-VWF-34F_C05.ab1", 112980, "rs778370191 L1923P", 6023, "T", "C", "0/1", "CTG", "CCG", 1923),
    ("QJL-VWF-39-VWF-39F_H05.ab1", 138992, "novel C2283* TGC>TGA", 7104, "C", "A", "0/1", "TGC", "TGA", 2283),
    ("QJL-VWF-42-VWF-42F_C06.ab1", 142837, "rs216867 T2413= 'C/C'", 7494, "T", "C", "1/1", "ACT", "ACC", 2413),
]  # fmt: skip


@pytest.mark.parametrize("row", VWF_DOCUMENTED, ids=[r[2] for r in VWF_DOCUMENTED])
def test_vwf_documented_variant_is_called(row: tuple[Any, ...], vwf_ref: ReferenceRegion) -> None:
    trace, _, _, pos, ref, alt, gt, before, after, residue = row
    c = pos - 255
    codon_start = 255 + (c - 1) // 3 * 3 + 1
    assert (c - 1) // 3 + 1 == residue
    assert vwf_ref.sequence[codon_start - 1 : codon_start + 2] == before
    mutated = list(before)
    mutated[pos - codon_start] = alt
    assert "".join(mutated) == after
    batch = call_traces(
        [shared_traces() / "vwf_family_human" / trace], sample="QJL", references=[vwf_ref]
    )
    hits = [o for o in batch.observations if (o.pos, o.ref, o.alt) == (pos, ref, alt)]
    assert len(hits) == 1, obs_keys(batch)
    o = hits[0]
    assert (o.chrom, o.genotype, o.origin, o.read_group) == ("NM_000552.4", gt, "trace", trace)
    assert o.vaf_source == "trace peak ratio" and o.quality is not None and o.quality >= 20
    assert (0.25 <= vaf(o) <= 0.75) if gt == "0/1" else vaf(o) >= 0.9
    (cov,) = batch.coverage["QJL"]
    assert cov.source == "trace" and cov.start <= pos <= cov.end


def test_vwf_exon23_reads_call_exactly_the_three_table_rows(vwf_ref: ReferenceRegion) -> None:
    """Exon 23 read vs mRNA: the three table rows (98671, 98749, 98766 -> 3269, 3347, 3364).

    98766 (C>G, "G/C", no annotation) is the first intronic base after the exon; on the mRNA
    reference it faces exon 24's first base (also G). The read's intronic tail mismatches the
    mRNA (3366, 3368) and must not turn into homozygous calls (alignment ends are clipped).
    """
    batch = call_traces(
        [shared_traces() / "vwf_family_human/QJL-VWF-23-VWF-23R_G09.ab1"],
        sample="QJL",
        references=[vwf_ref],
    )
    assert obs_keys(batch) == {
        ("NM_000552.4", 3269, "A", "G", "0/1"),
        ("NM_000552.4", 3347, "G", "C", "0/1"),
        ("NM_000552.4", 3364, "G", "C", "0/1"),
    }
    placement = det(batch)["traces"][0]["placement"]
    assert placement["strand"] == "-" and (placement["start"], placement["end"]) == (3221, 3365)


def test_vwf_exon28_forward_and_reverse_combined(vwf_ref: ReferenceRegion) -> None:
    """Exon 28 F+R: the table's rows inside both reads are confirmed by both traces."""
    root = shared_traces() / "vwf_family_human"
    f, r = "QJL-VWF-28-1-VWF-28-1F_D02.ab1", "QJL-VWF-28-1-VWF-28-1R_E02.ab1"
    batch = call_traces([root / f, root / r], sample="QJL", references=[vwf_ref])
    by = {(o.pos, o.ref, o.alt): o for o in batch.observations}
    # table Position - 100999 = NM_000552.4 (rs61749367/8 give the exon offset)
    confirmed = {
        104940: (3941, "T", "G"),  # rs61749367 V1229G
        104946: (3947, "A", "C"),  # rs61749368 N1231T
        105043: (4044, "G", "A"),  # rs148499318 (table "A>G", synonymous TCG>TCA)
        105089: (4090, "G", "A"),
        105185: (4186, "C", "T"),
        105205: (4206, "C", "T"),
        105281: (4282, "A", "G"),
        105333: (4334, "T", "C"),
        105359: (4360, "T", "A"),
    }
    for position, key in confirmed.items():
        assert position - 100999 == key[0]
        o = by[key]
        assert o.genotype == "0/1" and o.filters == ()
        assert "confirmed_by_2_traces" in o.extra_flags
        assert o.read_group == f  # first trace (input order) calling it
    # Rows seen only in F: R covers them but is noisy there -> reported, not filtered.
    for key in [(4388, "C", "T"), (4396, "A", "G"), (4485, "T", "C")]:
        assert by[key].filters == () and "other_trace_inconclusive" in by[key].extra_flags
    # Table row 105051 "T>C" (NM_000552.4:4052): R shows C/T, F shows C/A (with some T):
    # both are reported as disagreements, neither silently merged.
    assert by[(4052, "C", "T")].read_group == r and by[(4052, "C", "A")].read_group == f
    disputed = {d["variant"] for d in det(batch)["disagreements"]}
    assert {"NM_000552.4:4052:C>T", "NM_000552.4:4052:C>A"} <= disputed
    # Coverage spans 3929-4571 minus the noisy-tail sites with weak gaps/indels, which are
    # listed per trace with the reason (not wild type, not silently covered).
    cov = batch.coverage["QJL"]
    assert cov[0].start == 3929 and cov[-1].end == 4571
    holes = [h for t in det(batch)["traces"] for h in t["not_wild_type_sites"]]
    assert {(h["start"], h["end"]) for h in holes} >= {(4481, 4481), (4535, 4536), (4562, 4563)}
    assert not any(c.start <= 4481 <= c.end or c.start <= 4536 <= c.end for c in cov)
    json.dumps(batch.details)  # JSON-serialisable


def test_vwf_exon34_table_row_113026_shows_g_c_not_a_g(vwf_ref: ReferenceRegion) -> None:
    """Row 113026 'A>G' maps to NM_000552.4:6069 (same exon offset as rs778370191), but the
    trace has clean G+C peaks there: we call G>C and do not invent the table's allele."""
    batch = call_traces(
        [shared_traces() / "vwf_family_human/QJL-VWF-34-VWF-34F_C05.ab1"],
        sample="QJL",
        references=[vwf_ref],
    )
    keys = obs_keys(batch)
    assert ("NM_000552.4", 6033, "G", "A", "0/1") in keys  # row 112990 A>G (pair A/G)
    assert ("NM_000552.4", 6069, "G", "C", "0/1") in keys
    assert not any(k[1] == 6069 and k[3] in "AT" for k in keys)


def test_indigo_sample_heterozygous_deletion_is_decomposed() -> None:
    """Indigo's example (genome-edited, 'separates into two alleles'; expected output not
    stored upstream). After the edit the trace is reference + reference shifted by 7: the
    decomposition explains >= 95 % of the discriminating columns and the junction bases read
    from the trace make it a 9->2 delins (net -7)."""
    root = shared_traces() / "indigo_gear-genomics"
    ref = ReferenceRegion(
        name="sample.fa", chrom="9", start=45171835, sequence=fasta_seq(root / "sample.fa")
    )
    batch = call_traces([root / "sample.abi"], sample="indigo", references=[ref])
    (indel,) = [o for o in batch.observations if len(o.ref) != len(o.alt)]
    assert (indel.chrom, indel.pos, indel.ref, indel.alt) == ("9", 45173059, "TGGAGGGTC", "AT")
    assert indel.genotype == "0/1" and 0.4 <= vaf(indel) <= 0.65
    info = det(batch)["traces"][0]
    scan = info["het_indel_scan"]
    assert info["placement"]["strand"] == "-"
    assert scan["best_shift"] == 7
    assert scan["explained_columns"] >= 0.95 * scan["discriminating_columns"] >= 150
    assert scan["gain"] > 5 * scan["runner_up_gain"]


@pytest.mark.parametrize("name", ["heterozygous.ab1", "heterozygous.scf"])
def test_sangerseqr_heterozygous_indel_against_sibling_reference(name: str) -> None:
    """sangerseqR vignette: heterozygous.ab1 is the homozygous sibling's amplicon with a small
    heterozygous indel, clean to ~base 160 of its trim5=50 chromatogram (trace base ~210),
    double peaks after; the reference is the sibling's primary calls 30..529 (setAllelePhase).
    The decomposition finds a 10-base insertion; ABIF and SCF renderings agree."""
    root = shared_traces() / "sangerseqR"
    hom = read_trace(root / "homozygous.scf")
    ref = ReferenceRegion(name="sibling", chrom="amplicon", start=30, sequence=hom.bases[29:529])
    batch = call_traces([root / name], sample="het", references=[ref])
    (indel,) = [o for o in batch.observations if len(o.ref) != len(o.alt)]
    assert (indel.pos, indel.ref, indel.alt, indel.genotype) == (283, "C", "CCACCGGGTCT", "0/1")
    assert indel.record == f"{name} trace position 209"
    scan = det(batch)["traces"][0]["het_indel_scan"]
    assert scan["best_shift"] == -10
    assert scan["explained_columns"] == scan["discriminating_columns"] >= 150
    # No heterozygous substitution is called in the clean stretch before the indel.
    assert not [o for o in batch.observations if o.genotype == "0/1" and o is not indel and
                vaf(o) > 0.3]  # fmt: skip


HBB = "thalassemia_hbb_hba_human"


def test_hbb_ivs2_654_double_peak_and_call() -> None:
    """Wanchen_T0024: IVS-II-654 (c.316-197C>T) heterozygous; BB1410006_T0024: wild type.
    The repo's probe GCCTTAACCCAG starts at the site (read strand: G, so C>T reads G/A)."""
    root = shared_traces() / HBB
    het, wt = (
        read_trace(root / "Wanchen_ThaMuv7_T0024.ab1"),
        read_trace(root / "BB1410006_ThaMuv7_T0024.ab1"),
    )
    i_het, i_wt = het.bases.find("GCCTTAACCCAG"), wt.bases.find("GCCTTAACCCAG")
    assert (i_het, i_wt) == (97, 95)
    h, w = het.peak_heights()[i_het], wt.peak_heights()[i_wt]
    assert h[0] / h[2] >= 0.45  # A under G
    assert w[0] / w[2] < 0.05
    # Full caller, with the wild-type sibling's trimmed calls as the amplicon reference.
    a, b = mott_trim(wt.qualities)
    ref = ReferenceRegion(name="T0024_wt", chrom="HBB_T0024", start=1, sequence=wt.bases[a:b])
    batch = call_traces([root / "Wanchen_ThaMuv7_T0024.ab1"], sample="W", references=[ref])
    site = i_wt - a + 1
    (o,) = [o for o in batch.observations if o.pos == site]
    assert (o.ref, o.alt, o.genotype, o.record) == (
        "G",
        "A",
        "0/1",
        "Wanchen_ThaMuv7_T0024.ab1 trace position 98",
    )
    wt_batch = call_traces([root / "BB1410006_ThaMuv7_T0024.ab1"], sample="wt", references=[ref])
    assert not [o for o in wt_batch.observations if o.pos == site]


def test_hbb_minus28_double_peak_and_call() -> None:
    """client1_T0023: -28 (c.-78A>G) heterozygous. Probe CATAAAA = -32..-26; -28 is its 5th
    base. No wild-type read exists, so the read's own trimmed calls are the reference."""
    root = shared_traces() / HBB
    t = read_trace(root / "client1_ThaMuv7_T0023.ab1")
    i = t.bases.find("CATAAAA") + 4
    assert i == 69
    h = t.peak_heights()[i]
    assert h[2] / h[0] >= 0.6  # G under A
    a, b = mott_trim(t.qualities)
    ref = ReferenceRegion(name="self", chrom="HBB_T0023", start=1, sequence=t.bases[a:b])
    batch = call_traces([root / "client1_ThaMuv7_T0023.ab1"], sample="c1", references=[ref])
    (o,) = [o for o in batch.observations if o.pos == i - a + 1]
    assert (o.ref, o.alt, o.genotype) == ("A", "G", "0/1")
    assert 0.3 <= vaf(o) <= 0.6


# --------------------------------------------------------------------------------------------
# (3) SYNTHETIC traces of the TP53 region (simulated; see varannot.sanger.simulate)

R248Q = (7674220, "C", "T")  # TP53 p.R248Q, GRCh38 (OncoKB example MAF: 17:g.7674220C>T)
R175H = (7675088, "C", "T")  # TP53 p.R175H c.524G>A


def test_synthetic_f_r_het_and_hom_snv_with_dye_blob(
    tp53: str, tp53_region: ReferenceRegion, tmp_path: Path
) -> None:
    """SYNTHETIC: het R248Q + hom SNV, forward (with a strong G dye blob) and reverse reads."""
    start = g(7674220) - 250
    hom_ref = tp53[g(7674350)]
    variants = [
        SimVariant(g(R248Q[0]), "C", "T"),
        SimVariant(g(7674350), hom_ref, "A", "hom"),
    ]
    paths = []
    runs: list[tuple[Literal["+", "-"], int, list[tuple[int, str, float]]]] = [
        ("+", 11, [(80, "G", 0.8)]),
        ("-", 12, []),
    ]
    for strand, seed, blobs in runs:
        sim = simulate_trace(
            tp53, variants, start=start, length=650, strand=strand, seed=seed, blobs=blobs,
            name=f"S1_{strand}.ab1",
        )  # fmt: skip
        paths.append(write_abif(sim, tmp_path / ("S1_F.ab1" if strand == "+" else "S1_R.ab1")))
    batch = call_traces(paths, sample="S1", references=[tp53_region], plot_dir=tmp_path / "png",
                        highlight=[("chr17", 7674229), ("chr17", 7600000)])  # fmt: skip
    assert obs_keys(batch) == {
        ("chr17", 7674220, "C", "T", "0/1"),
        ("chr17", 7674350, "C", "A", "1/1"),
    }
    by = {o.pos: o for o in batch.observations}
    het, hom = by[7674220], by[7674350]
    assert abs(vaf(het) - 0.5) < 0.1 and vaf(hom) > 0.9
    for o in (het, hom):
        assert o.filters == () and o.extra_flags == ("confirmed_by_2_traces",)
        assert o.read_group == "S1_F.ab1" and (o.quality or 0) >= 20
    # trace positions in each file's own orientation: R reads the window backwards
    assert het.record == "S1_F.ab1 trace position 251; S1_R.ab1 trace position 400"
    (cov,) = batch.coverage["S1"]
    assert (cov.chrom, cov.start, cov.end) == ("chr17", 7673970, 7674619)
    t0, t1 = det(batch)["traces"]
    assert t0["placement"]["strand"] == "+" and t1["placement"]["strand"] == "-"
    assert t0["placement"]["gene"] == "TP53"
    plots = det(batch)["plots"]
    assert [p.get("variant", p.get("position")) for p in plots] == [
        "chr17:7674220:C>T", "chr17:7674350:C>A", "chr17:7674229",
    ]  # fmt: skip
    for p in plots:
        assert Path(p["path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(batch.details)


def test_synthetic_het_deletion_both_strands_from_scf(
    tp53: str, tp53_region: ReferenceRegion, tmp_path: Path
) -> None:
    """SYNTHETIC: het 2-bp deletion (TP53 intron 6/exon 7 region), SCF v3 forward + reverse.
    Each read sees the mixture on its own downstream side; both decompose to the same allele."""
    pos = 7674100
    assert tp53[g(pos) : g(pos) + 6] == "AAGAGG"
    variants = [SimVariant(g(pos), "AAG", "A")]
    paths = []
    strands: list[tuple[Literal["+", "-"], int]] = [("+", 21), ("-", 22)]
    for strand, seed in strands:
        sim = simulate_trace(tp53, variants, start=g(7674220) - 250, length=650, strand=strand,
                             seed=seed, name=f"S2{strand}.scf")  # fmt: skip
        paths.append(write_scf(sim, tmp_path / ("S2_F.scf" if strand == "+" else "S2_R.scf")))
    batch = call_traces(paths, sample="S2", references=[tp53_region])
    assert obs_keys(batch) == {("chr17", 7674100, "AAG", "A", "0/1")}
    (o,) = batch.observations
    assert "confirmed_by_2_traces" in o.extra_flags and abs(vaf(o) - 0.5) < 0.1
    scans = [t["het_indel_scan"] for t in det(batch)["traces"]]
    assert [s["best_shift"] for s in scans] == [2, 2]
    # Coverage of F stops at the deletion, R starts at it; together they span the window.
    (cov,) = batch.coverage["S2"]
    assert cov.start <= 7674100 <= cov.end and cov.end - cov.start > 550


def test_synthetic_het_insertion_scf_v2_reverse_read(
    tp53: str, tp53_region: ReferenceRegion, tmp_path: Path
) -> None:
    """SYNTHETIC: het 1-bp insertion near R175H, reverse read only, written as SCF v2."""
    pos = 7675150
    assert tp53[g(pos) - 1 : g(pos) + 2] == "TGC"  # inserted A is not in a repeat
    sim = simulate_trace(tp53, [SimVariant(g(pos), "G", "GA")], start=g(R175H[0]) - 300,
                         length=650, strand="-", seed=31, noise=0.02, name="S3_R.scf")  # fmt: skip
    path = write_scf(sim, tmp_path / "S3_R.scf", version="2.00")
    assert read_trace(path).fmt == "SCF 2.00"
    batch = call_traces([path], sample="S3", references=[tp53_region])
    assert obs_keys(batch) == {("chr17", 7675150, "G", "GA", "0/1")}
    assert batch.observations[0].extra_flags == ("single_trace",)
    (cov,) = batch.coverage["S3"]
    assert cov.start == 7675150  # the reverse read's mixture lies below the insertion


def test_synthetic_hom_deletion_and_low_fraction_het(
    tp53: str, tp53_region: ReferenceRegion, tmp_path: Path
) -> None:
    """SYNTHETIC: homozygous 1-bp deletion (alignment gap) and a 30 % het SNV (R175H);
    a 10 % SNV is below the default ratio 0.25 and needs ratio=0.08 and min_quality=5."""
    hom_pos = 7674996
    ref2 = tp53[g(hom_pos) : g(hom_pos) + 2]
    assert tp53[g(hom_pos) - 1 : g(hom_pos) + 3] == "AGAG"  # deleting the A cannot shift left
    variants = [
        SimVariant(g(hom_pos), ref2, ref2[0], "hom"),
        SimVariant(g(R175H[0]), "C", "T", "het", fraction=0.3),
    ]
    sim = simulate_trace(
        tp53, variants, start=g(R175H[0]) - 300, length=600, seed=41, name="S4.ab1"
    )
    batch = call_traces(
        [write_abif(sim, tmp_path / "S4.ab1")], sample="S4", references=[tp53_region]
    )
    assert obs_keys(batch) == {
        ("chr17", hom_pos, ref2, ref2[0], "1/1"),
        ("chr17", 7675088, "C", "T", "0/1"),
    }
    het = next(o for o in batch.observations if o.pos == 7675088)
    assert 0.2 <= vaf(het) <= 0.4
    low = simulate_trace(tp53, [SimVariant(g(R175H[0]), "C", "T", "het", fraction=0.1)],
                         start=g(R175H[0]) - 300, length=600, seed=42, spurious=0.01, noise=0.004,
                         name="S5.ab1")  # fmt: skip
    p = write_abif(low, tmp_path / "S5.ab1")
    assert call_traces([p], sample="S5", references=[tp53_region]).observations == []
    # Below ~0.2 the local-noise quality (background floor 0.04) dominates: a user hunting a
    # 10 % subclone lowers both knobs, on a clean trace.
    sensitive = call_traces([p], sample="S5", references=[tp53_region], ratio=0.08, min_quality=5)
    best = max(sensitive.observations, key=lambda o: o.quality or 0.0)
    assert (best.pos, best.ref, best.alt, best.genotype) == (7675088, "C", "T", "0/1")
    assert 0.05 <= vaf(best) <= 0.15
    # ... at the price of noise calls (every one weaker than the real subclone).
    assert 1 < len(sensitive.observations) <= 8


def test_synthetic_disagreement_between_reads_is_filtered(
    tp53: str, tp53_region: ReferenceRegion, tmp_path: Path
) -> None:
    """SYNTHETIC: forward read carries a het R248Q, the clean reverse read does not (e.g. a
    contaminated well): the call is kept but filtered and the disagreement explained."""
    start = g(7674220) - 250
    f = simulate_trace(tp53, [SimVariant(g(R248Q[0]), "C", "T")], start=start, length=650,
                       strand="+", seed=51, name="F.ab1")  # fmt: skip
    r = simulate_trace(tp53, [], start=start, length=650, strand="-", seed=52, name="R.ab1")
    batch = call_traces(
        [write_abif(f, tmp_path / "F.ab1"), write_abif(r, tmp_path / "R.ab1")],
        sample="S6",
        references=[tp53_region],
    )
    (o,) = batch.observations
    assert (o.pos, o.filters, o.extra_flags) == (7674220, ("trace_disagreement",), ())
    (d,) = det(batch)["disagreements"]
    assert d["called_in"] == ["F.ab1"]
    (silent,) = d["not_called_in"]
    assert silent["trace"] == "R.ab1" and silent["verdict"] == "contradicts"
    assert silent["alt_peak_fraction"] < 0.05


def test_synthetic_unplaced_trace_and_no_false_calls_on_clean_reads(
    tp53: str, tp53_region: ReferenceRegion, tmp_path: Path
) -> None:
    """SYNTHETIC: a read from random sequence places nowhere; clean TP53 reads with dye blobs
    but no variant give no calls at all."""
    rng = np.random.default_rng(0)
    junk = "".join(rng.choice(list("ACGT"), 700))
    sim = simulate_trace(junk, [], start=0, length=600, seed=61, name="junk.ab1")
    clean = [
        simulate_trace(tp53, [], start=g(7676000) + 700 * k, length=650, strand="+" if k % 2 == 0 else "-",
                       seed=70 + k, blobs=[(60 + 20 * k, "ACGT"[k], 0.7)], name=f"c{k}.ab1")
        for k in range(4)
    ]  # fmt: skip
    paths = [write_abif(sim, tmp_path / "junk.ab1")]
    paths += [write_abif(c, tmp_path / c.name) for c in clean]
    batch = call_traces(paths, sample="S7", references=[tp53_region])
    assert batch.observations == []
    assert batch.skipped.counts == {"trace not placed on any reference region": 1}
    assert batch.skipped.examples["trace not placed on any reference region"] == [
        "junk.ab1: not placed: no 12-base seed matches any reference region"
    ]
    assert batch.records_read == 5 and len(batch.coverage["S7"]) == 4


def test_mott_trim_keeps_the_best_stretch() -> None:
    q = [5, 5, 5, 30, 30, 30, 8, 30, 30, 30, 5, 5]
    assert mott_trim(q) == (3, 10)  # the isolated Q8 inside is kept (a heterozygous site)
    assert mott_trim([5, 30, 30, 8, 30, 30, 30, 5]) == (4, 7)  # 2 x Q30 do not pay for a Q8
    assert mott_trim([2, 3, 4]) == (0, 0)
    assert mott_trim([]) == (0, 0)


def test_call_traces_rejects_nonsense_ratio(tp53_region: ReferenceRegion) -> None:
    with pytest.raises(ValueError, match="ratio"):
        call_traces([], sample="x", references=[tp53_region], ratio=1.5)


def test_plots_are_written_as_png(tp53: str, tp53_region: ReferenceRegion, tmp_path: Path) -> None:
    """Plot timing lives in benchmarks/trace_throughput.py --plots (no wall clock in tests)."""
    from varannot.traceplot import plot_trace_site

    t = simulate_trace(tp53, [], start=g(7674000), length=500, seed=81).to_trace()
    for k in range(3):
        out = plot_trace_site(
            t, 120 + 40 * k, tmp_path / f"p{k}.png", ref_bases={120 + 40 * k: "A"}
        )
        assert Path(out).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
