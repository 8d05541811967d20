"""Knowledge base: shipped content, validation errors that name the row, matching real alleles."""

from __future__ import annotations

import csv
import hashlib
import json
from importlib import resources
from pathlib import Path

import pytest

from varannot import shipped, tp53function
from varannot.annotate import Annotator
from varannot.errors import KnowledgeBaseError
from varannot.kbcli import schema_text, show_text, validate_files
from varannot.knowledge import KnowledgeBase, proteins_from
from varannot.models import Annotation

SHIPPED_DRUGS = [
    "revumenib",
    "ziftomenib",
    "bleximenib",
    "enzomenib",
    "MI-3454",
    "venetoclax",
    "idasanutlin",
    "nutlin-3",
    "MI-63",
    "MI-219",
    "CGM097",
    "milademetan",
    "siremadlin",
    "navtemadlin",
    "brigimadlin",
    "KT-253",
]
HEADER = (
    "id\tgene\trule\tnumbering\tvariant\tconsequence\tgroup\tdrug\tdrug_class\teffect\t"
    "evidence_kind\tlevel\texternal_level\tmagnitude\tdisease\tcitations\tstatus\tprovenance\tnote\n"
)
# Real alleles: (chrom, GRCh38 pos, GRCh37 pos, ref, alt)
BCL2_G101V = ("chr18", 63318365, 60985598, "C", "A")
TP53_R175H = ("chr17", 7675088, 7578406, "C", "T")
TP53_FS = ("chr17", 7674942, 7578260, "CT", "C")  # NM_000546.6:c.588del
TP53_P72R = ("chr17", 7676154, 7579472, "G", "C")
BAX_DUP = ("chr19", 48955713, 49458970, "T", "TG")  # NM_138761.4:c.121dup
# truncating: the class rows, plus the measured-function rows (truncating = loss of function);
# TP53-30 (a preprint) is excluded from calls and not matched.
TP53_TRUNCATING = [
    "TP53-01", "TP53-03", "TP53-05", "TP53-07", "TP53-09", "TP53-11", "TP53-20", "TP53-21",
    "TP53-22", "TP53-23", "TP53-25", "TP53-40", "TP53-43",
]  # fmt: skip
# R175H: loss of function in all three assays; no range rule any more
TP53_DBD_MISSENSE = ["TP53-21", "TP53-23", "TP53-25", "TP53-40", "TP53-43"]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def site_table(path: Path, rows: list[str], version: str = "site-1", extra: str = "") -> Path:
    path.write_text(f"# version: {version}\n{extra}{HEADER}" + "".join(r + "\n" for r in rows))
    return path


def row(
    rid: str,
    gene: str,
    rule: str,
    numbering: str,
    variant: str,
    drug: str,
    drug_class: str,
    consequence: str = "",
    effect: str = "resistance",
    citations: str = "PMID:1",
) -> str:
    cells = [rid, gene, rule, numbering, variant, consequence, "", drug, drug_class, effect]
    cells += ["clinical", "B", "", "", "AML", citations, "confirmed", "site", ""]
    return "\t".join(cells)


def annotate(annotators: dict[str, Annotator], build: str, allele: tuple) -> Annotation:
    chrom, p38, p37, ref, alt = allele
    a = annotators[build].annotate(chrom, p38 if build == "GRCh38" else p37, ref, alt).annotation
    assert a is not None
    return a


def men1_m322i(annotator: Annotator) -> Annotation:
    g = annotator.transcripts.mane["MEN1"].codon_genomic(322)
    a = annotator.annotate("chr11", g[2], "C", "T").annotation  # ATG -> ATA on the minus strand
    assert a is not None and a.protein is not None and a.protein.short == "M322I"
    return a


# --- the shipped table -------------------------------------------------------------------------
def test_shipped_version_sha_and_drugs(kb: KnowledgeBase) -> None:
    data = resources.files("varannot.data").joinpath("knowledge_base.tsv").read_bytes()
    assert kb.version == "2026.11.1"
    assert kb.sha256 == hashlib.sha256(data).hexdigest()
    assert kb.sources == ["varannot.data/knowledge_base.tsv"]
    assert list(kb.drugs) == SHIPPED_DRUGS
    assert kb.drugs["KT-253"] == "MDM2 degrader"
    assert kb.drugs["bleximenib"] == "menin inhibitor"
    assert len(kb.rows) == 45
    assert kb.summary().rows == 45
    assert kb.canonical_drug("SNDX-5613") == "revumenib"
    assert kb.canonical_drug("jnj-75276617") == "bleximenib"
    assert kb.canonical_drug("KO-539") == "ziftomenib"


def test_every_row_cited_and_no_residue_unverifiable(kb: KnowledgeBase) -> None:
    assert all(r.citations for r in kb.rows)
    assert kb.validate() == []


def test_immutable(kb: KnowledgeBase) -> None:
    with pytest.raises(AttributeError, match="immutable"):
        kb.version = "x"  # type: ignore[misc]


def test_seeded_from_every_confirmed_and_secondary_research_row(
    kb: KnowledgeBase, shared: Path
) -> None:
    with (shared / "research" / "resistance-evidence.tsv").open() as fh:
        research = list(csv.DictReader(fh, delimiter="\t"))
    wanted = {
        r["row_id"]
        for r in research
        if r["confirmation_status"].startswith(("CONFIRMED", "SECONDARY"))
    }
    used = {p.strip().removeprefix("research:") for r in kb.rows for p in r.provenance.split(";")}
    # TP53-010 is deliberately left out: its source says it is no evidence of resistance.
    assert wanted - used == {"TP53-010"}
    unconfirmed = {
        r.provenance.removeprefix("research:") for r in kb.rows if r.status == "unconfirmed"
    }
    assert "MEN1-004" in unconfirmed and "BCL2-U-F104I" in unconfirmed


def test_men1_rows_as_specified(kb: KnowledgeBase) -> None:
    got = {
        (r.id, r.numbering, r.variant, r.drugs, r.effect, r.status, r.level)
        for r in kb.rows
        if r.gene == "MEN1" and r.kind == "protein_change"
    }
    assert got == {
        ("MEN1-01", "NP_000235.2", "M327I", ("revumenib",), "resistance", "confirmed", "B"),
        ("MEN1-02", "NP_000235.2", "M327V", ("revumenib",), "resistance", "confirmed", "B"),
        ("MEN1-03", "NP_000235.2", "G331R", ("revumenib",), "resistance", "confirmed", "B"),
        ("MEN1-04", "NP_000235.2", "T349M", ("revumenib",), "resistance", "confirmed", "B"),
        ("MEN1-05", "NP_000235.2", "G331D", ("revumenib",), "resistance", "unconfirmed", "E"),
        ("MEN1-06", "NP_000235.2", "M327I", ("bleximenib",), "sensitivity_retained", "confirmed", "D"),
        ("MEN1-07", "NP_000235.2", "T349M", ("bleximenib",), "sensitivity_retained", "confirmed", "D"),
    }  # fmt: skip


@pytest.mark.parametrize("build", ["GRCh38", "GRCh37"])
def test_shipped_residues_match_translated_proteins(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    proteins = proteins_from(kb_annotators[build])
    assert kb.validate(proteins) == []
    p = proteins("NP_001357188.2")
    assert p is not None and p[326] == "Y" and p[321] == "M"


def test_schema_json_is_generated_from_the_row_model() -> None:
    shipped = resources.files("varannot.data").joinpath("knowledge_base.schema.json").read_text()
    assert json.loads(shipped) == json.loads(schema_text())
    assert json.loads(shipped)["properties"]["level"]["enum"] == ["A", "B", "C", "D", "E"]


def test_show_text_gives_mane_numbering_of_isoform_rows(kb: KnowledgeBase) -> None:
    text = show_text(kb)
    assert text.startswith(f"# knowledge base 2026.11.1  sha256 {kb.sha256}\n")
    assert "\n# TP53 measured function: TP53 missense function: Giacomelli 2018" in text
    assert (
        "MEN1-01\tMEN1\tprotein_change\tNP_000235.2 M327I\tNP_001357188.2 M322I\trevumenib\t"
        "resistance\tB\tconfirmed\tany\tPMID:36922589; DOI:10.1182/blood.2023022480; URL:"
    ) in text
    assert "TP53-25\tTP53\tfunction\tNP_000537.3 loss_of_function\t\tvenetoclax\t" in text
    assert "\tsensitivity_retained\tB\tconfirmed\tCLLSLL\t" in text
    assert (
        "TP53-24\tTP53\tbiallelic\tNP_000537.3 TP53_LOF\t\tvenetoclax\treduced_sensitivity" in text
    )


# --- validation errors name the file and the row ---------------------------------------------
def test_misnumbered_men1_row_fails_naming_the_row(tmp_path: Path) -> None:
    f = site_table(
        tmp_path / "site.tsv",
        [
            row(
                "SITE-1",
                "MEN1",
                "protein_change",
                "NP_001357188.2",
                "M327I",
                "revumenib",
                "menin inhibitor",
            )
        ],
    )
    with pytest.raises(KnowledgeBaseError) as e:
        KnowledgeBase.load([f])
    assert e.value.source == str(f)
    assert e.value.record == "row SITE-1 (line 3)"
    msg = str(e.value)
    assert msg.startswith(f"{f}, row SITE-1 (line 3): MEN1 M327I names Met (M) at NP_001357188.2 ")
    assert "residue 327, but that residue is Tyr (Y)" in msg
    assert "set numbering to NP_000235.2, or write M322I on NP_001357188.2" in msg


def test_misnumbered_row_fails_against_fasta_proteins(
    tmp_path: Path, kb_annotators: dict[str, Annotator]
) -> None:
    # R280 is not among the shipped residue facts: only the FASTA can check it.
    f = site_table(
        tmp_path / "s.tsv",
        [
            row(
                "S-K280",
                "TP53",
                "protein_change",
                "NP_000537.3",
                "K280T",
                "idasanutlin",
                "MDM2 inhibitor",
            )
        ],
    )
    kb = KnowledgeBase.load([f], replace=True)
    assert kb.validate() == [
        f"{f}, row S-K280 (line 3): K280 on NP_000537.3 not verifiable "
        "(no FASTA sequence there and no residue fact)"
    ]
    with pytest.raises(KnowledgeBaseError, match=r"row S-K280 \(line 3\): TP53 K280T names Lys"):
        kb.validate(proteins_from(kb_annotators["GRCh37"]))


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (
            row("S1", "KRAS", "protein_change", "NP_000624.2", "G12D", "venetoclax", "BCL2 inhibitor"),
            "column gene = 'KRAS': Input should be 'MEN1', 'BCL2', 'BAX' or 'TP53'",
        ),
        (
            row("S1", "BCL2", "protein_change", "NP_000624.2", "G101V", "imatinib", "BCL2 inhibitor"),
            "unknown drug 'imatinib'",
        ),
        (
            row("S1", "TP53", "gene_class", "NP_000537.3", "", "KT-253", "MDM2 degrader", "nonsense"),
            "unknown consequence term 'nonsense'",
        ),
        (
            row("S1", "BCL2", "protein_change", "NP_000624.2", "G101V", "venetoclax", "MDM2 inhibitor"),
            "drug venetoclax is a BCL2 inhibitor, not a MDM2 inhibitor",
        ),
        (
            row("S1", "MEN1", "protein_change", "NP_000235.3", "M327I", "revumenib", "menin inhibitor"),
            "unknown numbering 'NP_000235.3' for MEN1",
        ),
        (
            row("S1", "BCL2", "range", "NP_000624.2", "G101_D103", "venetoclax", "BCL2 inhibitor"),
            "a range rule needs consequence terms",
        ),
        (
            row("S1", "BCL2", "protein_change", "NP_000624.2", "Gly101Val", "venetoclax", "BCL2 inhibitor"),
            "cannot read protein change 'Gly101Val'",
        ),
        (
            row("S1", "TP53", "biallelic", "NP_000537.3", "TP53_LOSS", "venetoclax", "BCL2 inhibitor"),
            "biallelic rule names group 'TP53_LOSS', which no TP53 row defines",
        ),
        (
            row("S1", "BCL2", "protein_change", "NP_000624.2", "G101V", "venetoclax", "BCL2 inhibitor",
                citations="Blombery 2019"),
            "column citations = 'Blombery 2019': String should match pattern",
        ),
    ],
)  # fmt: skip
def test_invalid_rows_fail_naming_the_row(tmp_path: Path, cells: str, message: str) -> None:
    f = site_table(tmp_path / "bad.tsv", [cells])
    with pytest.raises(KnowledgeBaseError) as e:
        KnowledgeBase.load([f], replace=True)
    assert str(e.value).startswith(f"{f}, row S1 (line 3): ")
    assert message in str(e.value)


def test_duplicate_id_against_shipped_table_fails(tmp_path: Path) -> None:
    f = site_table(
        tmp_path / "dup.tsv",
        [
            row(
                "BCL2-01",
                "BCL2",
                "protein_change",
                "NP_000624.2",
                "G101V",
                "venetoclax",
                "BCL2 inhibitor",
            )
        ],
    )
    KnowledgeBase.load([f], replace=True)  # fine alone
    with pytest.raises(KnowledgeBaseError, match=r"row BCL2-01 \(line 3\): duplicate id BCL2-01 "):
        KnowledgeBase.load([f])


def test_duplicate_content_fails(tmp_path: Path) -> None:
    r1 = row("S1", "BCL2", "protein_change", "NP_000624.2", "G101V", "venetoclax", "BCL2 inhibitor")
    r2 = row(
        "S2", "BCL2", "protein_change", "NP_000624.2", "p.Gly101Val", "ABT-199", "BCL2 inhibitor"
    )
    f = site_table(tmp_path / "dup.tsv", [r1, r2])
    with pytest.raises(KnowledgeBaseError) as e:
        KnowledgeBase.load([f], replace=True)
    assert str(e.value) == (
        f"{f}, row S2 (line 4): duplicates row S1 ({f} line 3) "
        "(same condition, drugs, effect and citations)"
    )


def test_missing_version_header_fails(tmp_path: Path) -> None:
    f = tmp_path / "nover.tsv"
    f.write_text(HEADER)
    with pytest.raises(KnowledgeBaseError, match="needs exactly one '# version: X' header line"):
        KnowledgeBase.load([f])


def test_site_table_on_top_and_replacing(tmp_path: Path) -> None:
    f = site_table(
        tmp_path / "site.tsv",
        [
            row("S1", "TP53", "protein_change", "NP_000537.3", "R175H", "RG7112", "MDM2 inhibitor"),
            row("S2", "MEN1", "protein_change", "NP_001357188.2", "p.(Met322Ile)", "SNDX-5613",
                "menin inhibitor", citations="PMID:36922589; REF:site review 2026"),
        ],
        extra="# drug: RG7112 | MDM2 inhibitor | RO5045337\n",
    )  # fmt: skip
    site_sha = hashlib.sha256(f.read_bytes()).hexdigest()
    both = KnowledgeBase.load([f])
    shipped = KnowledgeBase.load()
    assert both.version == "2026.11.1+site-1"
    assert both.sha256 == hashlib.sha256(f"{shipped.sha256}\n{site_sha}".encode()).hexdigest()
    assert list(both.drugs)[-1] == "RG7112" and len(both.rows) == 47
    assert both.canonical_drug("RO5045337") == "RG7112"
    only = KnowledgeBase.load([f], replace=True)
    assert (only.version, only.sha256, list(only.drugs)) == (
        "site-1",
        site_sha,
        ["revumenib", "RG7112"],
    )
    s2 = only.rows[1]
    assert (s2.variant, s2.drugs, s2.citations) == (
        "M322I", ("revumenib",), ("PMID:36922589", "REF:site review 2026"),
    )  # fmt: skip


def test_validate_files_report(tmp_path: Path, kb_fasta: dict[str, Path]) -> None:
    f = site_table(
        tmp_path / "site.tsv",
        [
            row(
                "S1",
                "TP53",
                "protein_change",
                "NP_000537.3",
                "R280K",
                "idasanutlin",
                "MDM2 inhibitor",
            )
        ],
    )
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    assert validate_files([f]) == (
        f"OK {f}: 1 rows, version site-1, sha256 {sha}\n"
        "OK on top of the shipped table: knowledge base 2026.11.1+site-1\n"
        "residues checked against the shipped residue facts\n"
        f"warning: {f}, row S1 (line 3): R280 on NP_000537.3 not verifiable "
        "(no FASTA sequence there and no residue fact)\n"
    )
    text = validate_files([f], fasta=kb_fasta["GRCh38"], build="GRCh38")
    assert "warning" not in text
    assert f"residues checked against proteins translated from {kb_fasta['GRCh38']}" in text


def test_validate_files_rejects_clash_with_shipped(tmp_path: Path) -> None:
    f = site_table(
        tmp_path / "site.tsv",
        [
            row(
                "TP53-01",
                "TP53",
                "protein_change",
                "NP_000537.3",
                "R175H",
                "KT-253",
                "MDM2 degrader",
            )
        ],
    )
    with pytest.raises(KnowledgeBaseError, match="valid alone, but cannot be used on top"):
        validate_files([f])


# --- matching real alleles (both builds) ----------------------------------------------------
@pytest.mark.parametrize("build", ["GRCh38", "GRCh37"])
@pytest.mark.parametrize(
    ("allele", "hgvs_p", "expected"),
    [
        (BCL2_G101V, "NP_000624.2:p.(Gly101Val)", ["BCL2-01", "BCL2-02", "BCL2-20"]),
        (TP53_R175H, "NP_000537.3:p.(Arg175His)", TP53_DBD_MISSENSE),
        (TP53_FS, "NP_000537.3:p.(Val197TrpfsTer50)", TP53_TRUNCATING),
        (BAX_DUP, "NP_620116.1:p.(Glu41GlyfsTer33)", ["BAX-01", "BAX-03", "BAX-04", "BAX-05"]),
        (TP53_P72R, "NP_000537.3:p.(Pro72Arg)", ["TP53-42", "TP53-45"]),
    ],
)
def test_match_real_alleles(
    kb: KnowledgeBase,
    kb_annotators: dict[str, Annotator],
    build: str,
    allele: tuple,
    hgvs_p: str,
    expected: list[str],
) -> None:
    a = annotate(kb_annotators, build, allele)
    assert a.hgvs_p == hgvs_p
    assert sorted(r.id for r in kb.match(a)) == expected


@pytest.mark.parametrize("build", ["GRCh38", "GRCh37"])
def test_men1_legacy_and_mane_rows_match_the_same_allele(
    kb_annotators: dict[str, Annotator], build: str, tmp_path: Path
) -> None:
    a = men1_m322i(kb_annotators[build])
    assert a.legacy_protein is not None and a.legacy_protein.short == "M327I"
    f = site_table(
        tmp_path / "mane.tsv",
        [
            row(
                "S-M322I",
                "MEN1",
                "protein_change",
                "NP_001357188.2",
                "M322I",
                "ziftomenib",
                "menin inhibitor",
            )
        ],
    )
    kb = KnowledgeBase.load([f])
    assert sorted(r.id for r in kb.match(a)) == ["MEN1-01", "MEN1-06", "MEN1-10", "S-M322I"]


def test_tp53_function_classes_and_wt_p53_drugs(kb: KnowledgeBase, shared: Path) -> None:
    """The shipped class table is exactly what the documented rule derives from the source."""
    src = shared / "reference-sources" / "tp53-function" / "tp53_missense_function.tsv"
    with src.open() as fh:
        derived = tp53function.derive(csv.DictReader(fh, delimiter="\t"))
    assert derived == shipped.read_text("tp53_function.tsv")
    table = tp53function.load(derived)
    assert {k: table[k].cls for k in ("R175H", "R248Q", "R273H", "R337H", "P72R", "R181E")} == {
        "R175H": "loss_of_function", "R248Q": "loss_of_function", "R273H": "loss_of_function",
        "R337H": "partially_functional", "P72R": "functional", "R181E": "insufficient_data",
    }  # fmt: skip
    assert tp53function.classify("non-functional", "LOF", "") == "loss_of_function"
    assert tp53function.classify("non-functional", "notLOF", "LOF") == "discordant"
    assert tp53function.classify("functional", "", "") == "insufficient_data"
    assert set(kb.wt_tp53) == {
        "idasanutlin", "nutlin-3", "MI-63", "MI-219", "CGM097", "milademetan", "siremadlin",
        "navtemadlin", "brigimadlin", "KT-253",
    }  # fmt: skip
    assert kb.wt_tp53["milademetan"] == ("PMID:37386016",)


def test_wt_p53_drug_without_function_rows_is_refused_on_top_of_the_shipped_table(
    tmp_path: Path,
) -> None:
    f = site_table(
        tmp_path / "s.tsv",
        [row("S-1", "TP53", "gene_class", "NP_000537.3", "", "idasanutlin", "MDM2 inhibitor",
             consequence="truncating")],
        extra="# drug: RG-X | MDM2 inhibitor\n",
    )  # fmt: skip
    kb = KnowledgeBase.load([f], replace=True)
    assert kb.warnings[0].startswith("idasanutlin requires wild-type TP53 but no usable function")


def test_unconfirmed_rows_only_on_request(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator]
) -> None:
    a = kb_annotators["GRCh38"].annotate("chr18", 63318358, "G", "C").annotation  # D103E
    assert a is not None and a.protein is not None and a.protein.short == "D103E"
    assert [r.id for r in kb.match(a)] == ["BCL2-20"]
    assert [r.id for r in kb.match(a, include_unconfirmed=True)] == ["BCL2-11", "BCL2-20"]


@pytest.mark.parametrize("build", ["GRCh38", "GRCh37"])
def test_loci_are_codons_and_coding_exons(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    ts = kb_annotators[build].transcripts
    off = 0 if build == "GRCh38" else -2332767
    ven = kb.loci("venetoclax", ts)
    assert ("BCL2 G101 (NP_000624.2)", "chr18", 63318364 + off, 63318366 + off) in ven
    assert ("BCL2 D103 (NP_000624.2)", "chr18", 63318358 + off, 63318360 + off) in ven
    assert {lab.split()[0] for lab, *_ in ven} == {"BCL2", "BAX", "TP53"}
    g = sorted(ts.mane["MEN1"].codon_genomic(322))
    zif = kb.loci("ziftomenib", ts)
    assert zif[-1] == ("MEN1 M327 (NP_000235.2)", "chr11", g[0], g[2])
    assert [lab for lab, *_ in zif] == [
        "MEN1 T349 (NP_000235.2)", "MEN1 G331 (NP_000235.2)", "MEN1 M327 (NP_000235.2)",
    ]  # fmt: skip
    kt = kb.loci("KT-253", ts)
    assert sum("coding exon" in lab for lab, *_ in kt) == 10
    assert "TP53 exon 2 splice acceptor (NM_000546.6)" in [lab for lab, *_ in kt]
    assert not any("exon 1 " in lab for lab, *_ in kt)  # exon 1 is non-coding
