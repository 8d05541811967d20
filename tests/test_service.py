"""HTTP service through FastAPI's TestClient: the API surface, problems, limits, auth, jobs.

References are built at test time from ../shared (fixtures in conftest.py): ``kb_fasta`` has the
SYNTHETIC MEN1 region (full menin protein), ``real_fasta`` only real sequence (MEN1 mostly N).
The end-to-end tests against a real uvicorn process are in test_service_e2e.py.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from varannot.annotate import Annotator
from varannot.api import annotate_files
from varannot.errors import HGVSParseError, VarannotError
from varannot.knowledge import KnowledgeBase
from varannot.protein_input import ProteinInputError, annotate_protein, parse_protein
from varannot.service import ApiKey, EngineSet, ServiceSettings, create_app, sniff_vcf_build
from varannot.service.jobs import DataDirLock, DataDirLocked, JobStore, database_url, jobs_table

ROOT = Path(__file__).resolve().parent.parent
RUN1 = ROOT / "examples" / "run1.vcf"
PROBLEM = "application/problem+json"
MEN1_327 = (
    "MEN1 residue 327 is Tyr on NP_001357188.2 (MANE); Met327 is NP_000235.2 (615-aa) numbering "
    "= NP_001357188.2:p.Met322Ile — name the accession"
)


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def engines(kb_fasta: dict[str, Path]) -> EngineSet:
    """Both builds (kb references: SYNTHETIC MEN1), built once and shared by the apps."""
    s = ServiceSettings(
        fastas=[kb_fasta["GRCh38"], kb_fasta["GRCh37"]], builds=["GRCh38", "GRCh37"]
    )
    return EngineSet.load(s)


@pytest.fixture(scope="module")
def engines38_real(real_fasta: dict[str, Path]) -> EngineSet:
    """GRCh38 only, real sequence only (the server a GRCh37 input gets a 422 from)."""
    return EngineSet.load(ServiceSettings(fastas=[real_fasta["GRCh38"]], builds=["GRCh38"]))


@contextmanager
def make_client(es: EngineSet, data_dir: Path, **settings: Any) -> Iterator[TestClient]:
    fastas = [Path(e.reference.name) for e in es.engines.values()]
    s = ServiceSettings(fastas=fastas, data_dir=data_dir, job_poll_s=0.05, **settings)
    with TestClient(create_app(s, engines=es), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def client(engines: EngineSet, tmp_path: Path) -> Iterator[TestClient]:
    with make_client(engines, tmp_path / "data") as c:
        yield c


def upload(c: TestClient, path: str, name: str, content: bytes, **data: str) -> Any:
    return c.post(path, files={"file": (name, content, "application/octet-stream")}, data=data)


def problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    doc: dict[str, Any] = r.json()
    assert doc["status"] == status
    return doc


def wait_job(c: TestClient, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j: dict[str, Any] = c.get(f"/v1/jobs/{job_id}").json()
        if j["status"] in ("finished", "failed"):
            return j
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def variants_of(doc: dict[str, Any], sample: str) -> list[dict[str, Any]]:
    (s,) = [s for s in doc["samples"] if s["sample"] == sample]
    out: list[dict[str, Any]] = s["variants"]
    return out


def calls_of(doc: dict[str, Any], sample: str) -> dict[str, str]:
    (s,) = [s for s in doc["samples"] if s["sample"] == sample]
    return {c["drug"]: c["call"] for c in s["calls"]}


# --------------------------------------------------------------------------------------------
# protein-level input (varannot.protein_input)


def test_gene_symbol_with_literature_residue_is_rejected_with_the_mane_name(
    kb_annotators: dict[str, Annotator], annotator38: Annotator
) -> None:
    # kb reference: MANE residue 327 translated (Tyr); real reference: MEN1 is N there, the
    # shipped residue facts still know it is Tyr
    for a in (kb_annotators["GRCh38"], annotator38):
        with pytest.raises(ProteinInputError) as e:
            annotate_protein("MEN1:p.Met327Ile", a)
        assert e.value.status == 422
        assert e.value.message == MEN1_327
        assert e.value.source == "MEN1:p.Met327Ile"


@pytest.mark.parametrize(
    "text, hgvs_p",
    [
        ("NP_000235.2:p.(Met327Ile)", "NP_001357188.2:p.(Met322Ile)"),
        ("NP_000235.2:p.M327I", "NP_001357188.2:p.Met322Ile"),
        ("NP_001357188.2:p.Met322Ile", "NP_001357188.2:p.Met322Ile"),
        ("MEN1:p.M322I", "NP_001357188.2:p.Met322Ile"),
        ("NM_000244.3:p.Met327Ile", "NP_001357188.2:p.Met322Ile"),
    ],
)
def test_men1_numberings_map_to_both(
    kb_annotators: dict[str, Annotator], text: str, hgvs_p: str
) -> None:
    pv = annotate_protein(text, kb_annotators["GRCh38"])
    a = pv.annotation
    assert a.hgvs_p == hgvs_p
    assert a.protein is not None and a.protein.short == "M322I"
    assert a.legacy_protein is not None and a.legacy_protein.short == "M327I"
    assert a.legacy_protein.accession == "NP_000235.2"
    assert a.consequence == ["missense_variant"]
    assert a.transcript == "NM_001370259.2" and a.legacy_transcript == "NM_000244.3"
    assert pv.flags == ["protein_level"]
    # the synthetic MEN1 codon for Met is ATG on the minus strand: CAT on the plus strand
    mane = kb_annotators["GRCh38"].transcripts.mane["MEN1"]
    assert (pv.chrom, pv.pos, pv.ref, pv.alt) == (
        "chr11",
        min(mane.codon_genomic(322)),
        "CAT",
        "<M322I>",
    )
    rules = {r.id for r in KnowledgeBase.load().match(a)}
    assert {"MEN1-01", "MEN1-06", "MEN1-10"} <= rules


def test_numbering_stated_beside_a_gene_symbol(kb_annotators: dict[str, Annotator]) -> None:
    a = kb_annotators["GRCh38"]
    pv = annotate_protein("MEN1:p.Met327Ile", a, numbering="NP_000235.2")
    assert pv.annotation.hgvs_p == "NP_001357188.2:p.Met322Ile"
    assert pv.annotation.hgvs_p_legacy == "NP_000235.2:p.Met327Ile"
    with pytest.raises(ProteinInputError, match="TP53 is not the gene of NP_000235.2"):
        annotate_protein("TP53:p.Met327Ile", a, numbering="NP_000235.2")
    with pytest.raises(ProteinInputError, match="and the stated numbering NP_000235.2 disagree"):
        annotate_protein("NP_001357188.2:p.Met327Ile", a, numbering="NP_000235.2")
    with pytest.raises(ProteinInputError, match="numbering NP_000235.9 is not a modeled"):
        annotate_protein("MEN1:p.Met327Ile", a, numbering="NP_000235.9")


def test_unknown_residue_is_accepted_unverified(annotator38: Annotator) -> None:
    # the real reference has no sequence at MEN1 codon 100 and no residue fact exists there
    pv = annotate_protein("NP_001357188.2:p.Leu100Pro", annotator38)
    assert pv.flags == ["protein_level", "ref_unverified"]
    assert pv.ref == "NNN"
    assert pv.annotation.hgvs_p_legacy is not None


@pytest.mark.parametrize(
    "text, consequence, short, hgvs_p",
    [
        ("TP53:p.R175H", "missense_variant", "R175H", "NP_000537.3:p.Arg175His"),
        ("TP53:p.Arg175Ter", "stop_gained", "R175*", "NP_000537.3:p.Arg175Ter"),
        ("TP53:p.(R175*)", "stop_gained", "R175*", "NP_000537.3:p.(Arg175Ter)"),
        ("TP53:p.Arg175=", "synonymous_variant", "R175=", "NP_000537.3:p.Arg175="),
        ("BCL2:p.Gly101Val", "missense_variant", "G101V", "NP_000624.2:p.Gly101Val"),
    ],
)
def test_consequence_from_the_residue_change(
    annotator38: Annotator, text: str, consequence: str, short: str, hgvs_p: str
) -> None:
    a = annotate_protein(text, annotator38).annotation
    assert a.consequence == [consequence]
    assert a.protein is not None and a.protein.short == short
    assert a.hgvs_p == hgvs_p
    assert a.legacy_protein is None


def test_tp53_codon_175_is_located_on_the_plus_strand(annotator38: Annotator) -> None:
    pv = annotate_protein("TP53:p.R175H", annotator38)
    # CGC on the minus strand = GCG at chr17:7675087-7675089 (c.524 is 7675088)
    assert (pv.chrom, pv.pos, pv.ref) == ("chr17", 7675087, "GCG")
    assert pv.annotation.exon == "5/11"


@pytest.mark.parametrize(
    "text, status, message",
    [
        ("TP53:p.Cys175Tyr", 422, "TP53 residue 175 is Arg on NP_000537.3 (MANE), not Cys"),
        ("TP53:p.R400H", 422, "TP53 residue 400 is beyond the end of NP_000537.3 (393 aa)"),
        ("NP_000235.3:p.M327I", 422, "NP_000235.3 is not a modeled protein or gene"),
        ("NP_000537.3(MEN1):p.R175H", 422, "NP_000537.3 is a TP53 protein, not MEN1"),
        ("TP53:p.Arg175fs", 400, "p.Arg175fs is not a single-residue substitution"),
        ("TP53:p.R213X", 400, "unknown amino acid 'X' (use * or Ter for a stop)"),
        ("TP53:p.Met1Val", 422, "a change of the initiating Met is p.(Met1?)"),
        ("TP53:c.524G>A", 400, "not a protein change of the form"),
    ],
)
def test_bad_protein_changes(annotator38: Annotator, text: str, status: int, message: str) -> None:
    with pytest.raises(VarannotError) as e:
        annotate_protein(text, annotator38)
    assert e.value.status == status
    assert e.value.message.startswith(message)


def test_parse_protein_forms() -> None:
    q = parse_protein("NP_000235.2:p.(Met327Ile)")
    assert (q.numbering, q.ref, q.pos, q.alt, q.predicted) == ("NP_000235.2", "M", 327, "I", True)
    q = parse_protein("TP53:p.R175=")
    assert (q.ref, q.alt, q.predicted) == ("R", "R", False)
    with pytest.raises(HGVSParseError):
        parse_protein("TP53:p.Xaa175His")


# --------------------------------------------------------------------------------------------
# settings


def test_settings_from_env() -> None:
    h = hashlib.sha256(b"k1").hexdigest()
    env = {
        "DATABASE_URL": "postgres://u@db/varannot",
        "VARANNOT_MAX_UPLOAD_BYTES": "1234",
        "VARANNOT_API_KEYS": f"lab:{h}:2.5,ci:{h}",
        "VARANNOT_CORS_ORIGINS": "https://a.example, https://b.example",
        "VARANNOT_RATE_LIMIT": "7",
    }
    s = ServiceSettings.from_env(env, fastas=[Path("x.fa")], max_files=3)
    assert s.max_upload_bytes == 1234 and s.max_files == 3 and s.rate_limit_per_second == 7
    assert [(k.name, k.rate_per_second) for k in s.api_keys] == [("lab", 2.5), ("ci", None)]
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert database_url(s.database_url, Path("/d")) == "postgresql://u@db/varannot"
    assert database_url(None, Path("/d")) == "sqlite:////d/varannot.db"
    with pytest.raises(VarannotError, match="invalid setting max_upload_bytes"):
        ServiceSettings.from_env({"VARANNOT_MAX_UPLOAD_BYTES": "lots"}, fastas=[Path("x.fa")])
    with pytest.raises(VarannotError, match="NAME SHA256"):
        ServiceSettings.from_env({"VARANNOT_API_KEYS": "justaname"}, fastas=[Path("x.fa")])


# --------------------------------------------------------------------------------------------
# read-only endpoints


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "version": "0.1.0"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ready", "builds": ["GRCh38", "GRCh37"], "database": "ok", "job_workers": 1,
        "jobs_running": 0,
    }  # fmt: skip


def test_knowledge_base_endpoint(client: TestClient) -> None:
    kb = KnowledgeBase.load()
    body = client.get("/v1/knowledge-base").json()
    assert (body["version"], body["sha256"], body["rows"]) == (kb.version, kb.sha256, len(kb.rows))
    assert body["sources"] == ["knowledge_base.tsv"]
    assert body["drugs"]["revumenib"] == "menin inhibitor"


def test_transcripts_endpoint(client: TestClient) -> None:
    body = client.get("/v1/transcripts").json()
    assert body["builds"] == ["GRCh38", "GRCh37"] and body["default_build"] == "GRCh38"
    men1 = {(t["build"], t["transcript"]): t for t in body["transcripts"] if t["gene"] == "MEN1"}
    lit = men1[("GRCh38", "NM_000244.3")]
    assert (lit["protein"], lit["role"], lit["protein_length"], lit["strand"]) == (
        "NP_000235.2", "literature_numbering", 615, "-",
    )  # fmt: skip
    assert men1[("GRCh37", "NM_001370259.2")]["role"] == "mane_select"
    assert len(body["transcripts"]) == 10


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    doc = problem(client.get("/v2/nothing"), 404)
    assert doc["title"] == "Not found" and doc["instance"] == "/v2/nothing"


# --------------------------------------------------------------------------------------------
# POST /v1/annotate


def test_upload_gives_the_cli_document(client: TestClient, kb_fasta: dict[str, Path]) -> None:
    r = upload(client, "/v1/annotate", "run1.vcf", RUN1.read_bytes())
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    cli = json.loads(
        annotate_files([RUN1], fasta=kb_fasta["GRCh38"], build="GRCh38").model_dump_json()
        .replace(str(RUN1), "run1.vcf")
        .replace(str(kb_fasta["GRCh38"]), kb_fasta["GRCh38"].name)
    )  # fmt: skip
    cli["knowledge_base"]["sources"] = ["knowledge_base.tsv"]
    assert doc == cli
    assert doc["reference"] == "GRCh38.kb.fa"
    (v,) = [v for v in variants_of(doc, "PATIENT_B") if v["gene"] == "TP53"]
    assert (v["hgvs_c"], v["hgvs_p"], v["source"], v["record"]) == (
        "NM_000546.6:c.524G>A", "NP_000537.3:p.(Arg175His)", "run1.vcf", "line 15",
    )  # fmt: skip


def test_client_file_names_are_labels_not_paths(client: TestClient, tmp_path: Path) -> None:
    r = upload(client, "/v1/annotate", "../../../../tmp/evil\x07.vcf", RUN1.read_bytes())
    assert r.status_code == 200
    # the client percent-encodes the control character; '%' is then replaced
    assert r.json()["inputs"][0]["source"] == "evil_07.vcf"
    assert not Path("/tmp/evil\x07.vcf").exists() and not Path("/tmp/evil_07.vcf").exists()
    assert list((tmp_path / "data" / "uploads").iterdir()) == []  # request files removed


def test_sites_only_vcf_sample_is_named_after_the_upload(client: TestClient) -> None:
    vcf = (
        b"##fileformat=VCFv4.2\n##contig=<ID=chr17,length=83257441>\n"
        b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr17\t7675088\t.\tC\tT\t50\tPASS\t.\n"
    )
    doc = upload(client, "/v1/annotate", "tumour-42.vcf", vcf).json()
    assert [s["sample"] for s in doc["samples"]] == ["tumour-42"]


def test_json_body_genomic_hgvs_and_protein(client: TestClient) -> None:
    body = {
        "sample": "P1",
        "variants": [
            "NP_000235.2:p.Met327Ile",
            "NM_000546.6:c.524G>A",
            {"chrom": "chr18", "pos": 63318365, "ref": "C", "alt": "A", "vaf": 0.3},
            {"hgvs": "BAX:p.Pro168Ala", "sample": "P2"},
            {"hgvs": "MEN1:p.Met327Val", "numbering": "NP_000235.2", "sample": "P2"},
        ],
    }
    r = client.post("/v1/annotate", json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert [s["sample"] for s in doc["samples"]] == ["P1", "P2"]
    assert doc["inputs"][0]["kind"] == "list" and doc["inputs"][0]["records_read"] == 5
    men1, tp53, bcl2 = variants_of(doc, "P1")
    assert (men1["hgvs_p"], men1["hgvs_p_legacy"], men1["hgvs_c"], men1["alt"]) == (
        "NP_001357188.2:p.Met322Ile", "NP_000235.2:p.Met327Ile", None, "<M322I>",
    )  # fmt: skip
    assert men1["flags"] == ["protein_level"] and men1["protein_change_legacy"] == "M327I"
    assert "MEN1-01" in men1["rule_ids"] and men1["record"] == "variants[0]"
    assert (tp53["pos"], tp53["ref"], tp53["alt"], tp53["hgvs_p"]) == (
        7675088, "C", "T", "NP_000537.3:p.(Arg175His)",
    )  # fmt: skip
    assert (bcl2["protein_change"], bcl2["vaf"], bcl2["vaf_source"]) == ("G101V", 0.3, "request")
    assert calls_of(doc, "P1")["venetoclax"] == "resistant"
    bax, men1_v = variants_of(doc, "P2")
    assert bax["protein_change"] == "P168A" and "BAX-02" in bax["rule_ids"]
    assert (men1_v["protein_change"], men1_v["protein_change_legacy"]) == ("M322V", "M327V")


def test_disease_field_json_and_multipart(client: TestClient) -> None:
    """TP53 R175H: venetoclax keeps activity in CLL, not so in AML (issue 10)."""

    def ven(disease: str) -> dict[str, Any]:
        body = {"sample": "P1", "disease": disease, "variants": ["NM_000546.6:c.524G>A"]}
        r = client.post("/v1/annotate", json=body)
        assert r.status_code == 200, r.text
        s = r.json()["samples"][0]
        assert s["disease"] == disease.upper()
        return next(c for c in s["calls"] if c["drug"] == "venetoclax")

    assert ven("cllsll")["call"] == "no_known_resistance"
    assert ven("AML")["call"] == "likely_resistant"
    doc = problem(client.post("/v1/annotate", json={"disease": "CLL", "variants": ["x123"]}), 422)
    assert "unknown disease 'CLL'" in json.dumps(doc)
    vcf = (
        b"##fileformat=VCFv4.2\n##contig=<ID=chr17,length=83257441>\n"
        b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr17\t7675088\t.\tC\tT\t50\tPASS\t.\n"
    )
    doc = upload(client, "/v1/annotate", "t.vcf", vcf, disease="CLLSLL").json()
    calls = {c["drug"]: c for c in doc["samples"][0]["calls"]}
    assert (calls["venetoclax"]["call"], calls["venetoclax"]["disease"]) == (
        "no_known_resistance",
        "CLLSLL",
    )
    assert calls["idasanutlin"]["call"] == "likely_resistant"  # sites-only VCF: VAF unknown


def test_json_protein_in_the_wrong_numbering_is_a_422_naming_the_entry(client: TestClient) -> None:
    r = client.post(
        "/v1/annotate", json={"variants": ["TP53:p.R175H", "MEN1:p.Met327Ile", "nonsense"]}
    )
    doc = problem(r, 422)
    assert doc["title"] == "Invalid variants" and doc["record"] == "variants[1]"
    assert doc["detail"] == f"2 of 3 variants cannot be annotated; first, variants[1]: {MEN1_327}"
    assert [(e["record"], e["source"]) for e in doc["errors"]] == [
        ("variants[1]", "MEN1:p.Met327Ile"), ("variants[2]", "nonsense"),
    ]  # fmt: skip


def test_json_schema_errors_are_422_problems(client: TestClient) -> None:
    r = client.post("/v1/annotate", json={"variants": [{"chrom": "chr17", "pos": 0, "ref": "C"}]})
    doc = problem(r, 422)
    assert doc["title"] == "Invalid request"
    locs = {tuple(e["loc"]) for e in doc["errors"]}
    assert locs == {("variants", "0", "genomic", "pos"), ("variants", "0", "genomic", "alt")}
    doc = problem(client.post("/v1/annotate", content=b"{not json", headers=JSON_CT), 422)
    assert doc["title"] == "Invalid request"


JSON_CT = {"content-type": "application/json"}


def test_json_types_are_strict(client: TestClient) -> None:
    """#13: ``"alt_depth": false`` was read as 0; booleans and numeric strings are refused."""
    base = {"chrom": "chr17", "pos": 7675088, "ref": "C", "alt": "T"}
    for field, value in (("alt_depth", False), ("depth", "50"), ("vaf", True), ("pos", "7675088")):
        r = client.post("/v1/annotate", json={"variants": [base | {field: value}]})
        (err,) = problem(r, 422)["errors"]
        assert err["loc"] == ["variants", "0", "genomic", field], (field, err)
    r = client.post("/v1/annotate", json={"variants": ["TP53:p.R175H"], "min_depth": True})
    assert problem(r, 422)["errors"][0]["loc"] == ["min_depth"]
    ok = client.post("/v1/annotate", json={"variants": [base | {"depth": 50, "vaf": 1}]})
    assert ok.status_code == 200, ok.text  # an integral VAF is still a number


def test_openapi_states_the_real_constraints(client: TestClient) -> None:
    """#13: form patterns, the floor <= reporting VAF rule and the bearer scheme are declared."""
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/annotate"]["post"]["requestBody"]["content"]
    form = body["multipart/form-data"]["schema"]
    for name in ("sample", "tumor"):
        assert form["properties"][name]["pattern"] == "^[^\\x00-\\x1f,]{1,200}$"
    rule = {
        "if": {"not": {"required": ["reporting_vaf"]}},
        "then": {"properties": {"detection_floor": {"maximum": 0.05}}},
    }
    assert {k: form[k] for k in rule} == rule
    req = spec["components"]["schemas"]["AnnotateRequest"]
    assert {k: req[k] for k in rule} == rule
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "API key as 'Authorization: Bearer <key>' (required when the server has "
        "keys)",
    }
    assert spec["paths"]["/v1/jobs"]["post"]["security"] == [{"bearer": []}]
    # what the schema allows is accepted: a floor of 1 with a reporting VAF of 1
    r = client.post(
        "/v1/annotate",
        json={"variants": ["TP53:p.R175H"], "detection_floor": 1, "reporting_vaf": 1},
    )
    assert r.status_code == 200, r.text
    r = upload(client, "/v1/annotate", "run1.vcf", RUN1.read_bytes(), detection_floor="1",
               reporting_vaf="1")  # fmt: skip
    assert r.status_code == 200, r.text


def test_unsupported_media_type(client: TestClient) -> None:
    doc = problem(
        client.post("/v1/annotate", content=b"x", headers={"content-type": "text/csv"}), 415
    )
    assert doc["detail"].startswith("got text/csv; send multipart/form-data")


def test_form_problems(client: TestClient) -> None:
    doc = problem(
        client.post("/v1/annotate", data={"build": "GRCh38"}, files={"x": ("a", b"b")}), 422
    )
    assert doc["detail"].startswith("unknown form field 'x'")
    doc = problem(client.post("/v1/annotate", files={"build": (None, "GRCh38")}), 422)
    assert doc["title"] == "No file"
    doc = problem(upload(client, "/v1/annotate", "a.vcf", RUN1.read_bytes(), build="hg19"), 422)
    assert doc["record"] == "build"
    bad = b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc'
    r = client.post(
        "/v1/annotate", content=bad, headers={"content-type": "multipart/form-data; boundary=xyz"}
    )
    assert problem(r, 400)["title"] == "Malformed multipart body"


def test_unreadable_upload_names_file_and_record(client: TestClient) -> None:
    doc = problem(upload(client, "/v1/annotate", "notes.vcf", b"hello\nworld\n"), 400)
    assert (doc["title"], doc["source"], doc["record"]) == (
        "Unreadable input",
        "notes.vcf",
        "line 1",
    )
    assert "/data/uploads" not in json.dumps(doc)


def grch37_run1() -> bytes:
    """examples/run1.vcf with a GRCh37 header, TP53 R175H moved to its GRCh37 position."""
    text = RUN1.read_bytes().replace(b"##reference=GRCh38", b"##reference=GRCh37")
    for l38, l37 in ((135086622, 135006516), (83257441, 81195210), (80373285, 78077248),
                     (58617616, 59128983)):  # fmt: skip
        text = text.replace(b"length=%d" % l38, b"length=%d" % l37)
    return text.replace(b"chr17\t7675088", b"chr17\t7578406")


def test_build_without_reference(engines38_real: EngineSet, tmp_path: Path) -> None:
    grch37 = grch37_run1()
    with make_client(engines38_real, tmp_path / "d") as c:
        doc = problem(upload(c, "/v1/annotate", "old.vcf", grch37), 422)
        assert doc["title"] == "No reference for this build" and doc["source"] == "old.vcf"
        assert doc["detail"].startswith("this server has no reference for GRCh37 (detected from")
        assert "it has GRCh38" in doc["detail"]
        doc = problem(
            c.post("/v1/annotate", json={"build": "GRCh37", "variants": ["TP53:p.R175H"]}), 422
        )
        assert doc["detail"].startswith("this server has no reference for GRCh37; it has GRCh38")
        # a stated build that contradicts the header: the reader's BuildMismatchError, 4xx
        r = upload(c, "/v1/annotate", "old.vcf", grch37, build="GRCh38")
        assert problem(r, 400)["title"] == "Build mismatch"


def test_two_builds_detected_and_used(client: TestClient) -> None:
    doc = upload(client, "/v1/annotate", "old.vcf", grch37_run1()).json()
    assert doc["build"] == "GRCh37"
    (v,) = [v for v in variants_of(doc, "PATIENT_B") if v["gene"] == "TP53"]
    assert v["hgvs_p"] == "NP_000537.3:p.(Arg175His)"
    assert sniff_vcf_build(RUN1) == ("GRCh38", "contig names/lengths in the header")


def test_upload_size_limit(engines: EngineSet, tmp_path: Path) -> None:
    with make_client(engines, tmp_path / "d", max_upload_bytes=1000) as c:
        doc = problem(upload(c, "/v1/annotate", "run1.vcf", RUN1.read_bytes() + b"#" * 2000), 413)
        assert doc["detail"] == "the upload exceeds the limit of 1000 bytes (1000 bytes)"
        # refused on Content-Length, before anything was written
        assert not any((tmp_path / "d").rglob("*.vcf")) and not any(
            (tmp_path / "d").rglob("part-*")
        )

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.vcf"\r\n\r\n'
            for _ in range(10):
                yield b"#" * 500
            yield b"\r\n--b--\r\n"

        ct = {"content-type": "multipart/form-data; boundary=b"}
        doc = problem(c.post("/v1/annotate", content=chunked(), headers=ct), 413)
        assert doc["detail"] == "the upload exceeds the limit of 1000 bytes (1000 bytes)"
        assert list((tmp_path / "d" / "uploads").iterdir()) == []


def test_synchronous_uploads_have_a_smaller_limit(engines: EngineSet, tmp_path: Path) -> None:
    big = RUN1.read_bytes() + b"#" * 2000
    with make_client(engines, tmp_path / "d", max_sync_upload_bytes=1000) as c:
        doc = problem(upload(c, "/v1/annotate", "run1.vcf", big), 413)
        assert doc["detail"] == (
            "the upload exceeds the limit of 1000 bytes (1000 bytes); submit large inputs to "
            "POST /v1/jobs"
        )
        assert upload(c, "/v1/jobs", "run1.vcf", big).status_code == 202


def test_slow_annotation_times_out(engines: EngineSet, tmp_path: Path) -> None:
    variants = [f"NM_000546.6:c.{c}del" for c in range(1, 1001)] * 3
    with make_client(engines, tmp_path / "d", request_timeout_s=0.05) as c:
        doc = problem(c.post("/v1/annotate", json={"variants": variants}), 504)
        assert doc["detail"] == (
            "annotation took longer than 0.05 s; submit large inputs to POST /v1/jobs"
        )


def test_gzip_bomb_is_refused(engines: EngineSet, tmp_path: Path) -> None:
    bomb = gzip.compress(b"##" + b"\0" * (40 << 20), compresslevel=9)
    assert len(bomb) < 100_000
    with make_client(engines, tmp_path / "a", max_decompressed_bytes=10 << 20) as c:
        doc = problem(upload(c, "/v1/annotate", "bomb.vcf.gz", bomb), 413)
        assert doc["detail"] == (
            "bomb.vcf.gz decompresses to more than the limit of 10485760 bytes (10.0 MiB)"
        )
    settings = {"max_compression_ratio": 100.0, "compression_ratio_floor_bytes": 1 << 20}
    with make_client(engines, tmp_path / "b", **settings) as c:
        doc = problem(upload(c, "/v1/jobs", "bomb.vcf.gz", bomb), 413)
        assert doc["detail"].startswith("bomb.vcf.gz expands more than 100-fold")
        ok = gzip.compress(RUN1.read_bytes())
        assert upload(c, "/v1/annotate", "run1.vcf.gz", ok).status_code == 200


def test_trace_upload(client: TestClient, shared: Path, tmp_path: Path) -> None:
    """SYNTHETIC trace (varannot.sanger.simulate) of the real TP53 sequence with R175H (het)."""
    from shared_mirror import read_fasta

    from varannot.sanger.simulate import SimVariant, simulate_trace, write_abif

    tp53_start = 7659779
    ((_, tp53),) = read_fasta(
        shared / "reference-sources/genomic/"
        "TP53_GRCh38_chr17_7659779-7692550_plus_strand_from_NG_017013.2.fa"
    )
    g = 7675088 - tp53_start
    sim = simulate_trace(tp53, [SimVariant(g, "C", "T")], start=g - 300, length=600, seed=3)
    path = write_abif(sim, tmp_path / "x.ab1")
    r = upload(client, "/v1/annotate", "S9_F.ab1", path.read_bytes())
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["inputs"][0]["kind"] == "trace" and doc["inputs"][0]["source"] == "S9_F.ab1"
    (v,) = [v for v in variants_of(doc, "S9_F") if v["gene"] == "TP53"]
    assert (v["pos"], v["ref"], v["alt"], v["genotype"]) == (7675088, "C", "T", "0/1")


EDGE = "testdata-sources/vcf/edge_case_fixtures"
# status on a GRCh38-only server; for 200 the samples read; for problems (title, detail start)
EDGE_EXPECTED: dict[str, tuple[int, Any]] = {
    "bio2zarr_field_type_combos.vcf.gz": (200, ["s1", "s2"]),
    "bio2zarr_mixed_ploidy.vcf.gz": (200, ["S1", "S2", "S3"]),
    "bio2zarr_sample.bcf": (200, ["NA00001", "NA00002", "NA00003"]),
    "bio2zarr_sample.vcf.gz": (200, ["NA00001", "NA00002", "NA00003"]),
    "bio2zarr_triploid.vcf.gz": (200, ["1"]),
    "cyvcf2_decomposed.vcf": (422, ("No reference for this build", "this server has no reference for GRCh37")),
    "cyvcf2_empty.vcf": (400, ("Unreadable input", "file is empty (0 bytes)")),
    "cyvcf2_issue_44.vcf": (200, ["SSC00089"]),
    "cyvcf2_seg.vcf.gz": (200, ["tom"]),
    "cyvcf2_test-genotypes.vcf": (422, ("No reference for this build", "this server has no reference for GRCh37")),
    "cyvcf2_test-multiallelic-homozygous-alt.vcf.gz": (422, ("No reference for this build", "this server has no reference for GRCh37")),
    "cyvcf2_test.mnp.vcf": (200, ["unknown"]),
    "htslib-test_formatcols.vcf": (200, ["S1", "S²", "S3"]),
    "htslib-test_formatmissing.vcf": (200, ["S1", "S2", "S3"]),
    "htslib-test_index.vcf": (422, ("No reference for this build", "this server has no reference for GRCh37")),
    "htslib-test_noroundtrip.vcf": (200, ["NA1"]),
    "htslib-test_tabix_vcf_file.bcf": (422, ("No reference for this build", "this server has no reference for GRCh37")),
    "htslib-test_tabix_vcf_file.vcf": (422, ("No reference for this build", "this server has no reference for GRCh37")),
    "htslib-test_test-vcf-hdr-in.vcf": (422, ("No reference for this build", "this server has no reference for GRCh37 (detected from ##reference=hs37d5)")),
    "htslib-test_vcf_meta_meta.vcf": (200, ["htslib-test_vcf_meta_meta"]),
    "pyvcf_bad-info-character.vcf": (200, ["Sample"]),
    "pyvcf_example-4.0.vcf": (200, ["NA00001", "NA00002", "NA00003"]),
    "pyvcf_example-4.1-bnd.vcf": (400, ("Unreadable input", "the '#CHROM' header line separates columns with spaces")),
    "pyvcf_example-4.1-ploidy.vcf": (422, ("No reference for this build", "this server has no reference for GRCh37")),
    "pyvcf_samples-space.vcf": (200, ["NA 00001", "NA 00002", "NA 00003"]),
    "pyvcf_string_as_flag.vcf": (200, ["test"]),
    "pyvcf_uncalled_genotypes.vcf": (200, ["AB00001", "AB00002", "AB00003"]),
}  # fmt: skip


def test_edge_case_fixtures(engines38_real: EngineSet, shared: Path, tmp_path: Path) -> None:
    files = sorted((shared / EDGE).iterdir())
    assert sorted(f.name for f in files) == sorted(EDGE_EXPECTED)
    with make_client(engines38_real, tmp_path / "d") as c:
        for f in files:
            status, want = EDGE_EXPECTED[f.name]
            r = upload(c, "/v1/annotate", f.name, f.read_bytes())
            assert r.status_code == status, (f.name, r.text)
            if status == 200:
                doc = r.json()
                assert doc["build"] == "GRCh38", f.name
                assert doc["inputs"][0]["samples"] == want, f.name
                assert doc["inputs"][0]["source"] == f.name
            else:
                doc = problem(r, status)
                assert doc["title"] == want[0], f.name
                assert doc["detail"].startswith(want[1]), (f.name, doc["detail"])
                assert doc["source"] == f.name


# --------------------------------------------------------------------------------------------
# auth, rate limits, CORS


def test_api_keys(engines: EngineSet, tmp_path: Path) -> None:
    keys = [
        ApiKey(name="lab", sha256=hashlib.sha256(b"lab-secret").hexdigest()),
        ApiKey(name="ci", sha256=hashlib.sha256(b"ci-secret").hexdigest()),
    ]
    with make_client(engines, tmp_path / "d", api_keys=keys) as c:
        doc = problem(c.get("/v1/knowledge-base"), 401)
        assert doc["detail"] == "send an API key as 'Authorization: Bearer <key>'"
        r = c.get("/v1/knowledge-base", headers={"Authorization": "Bearer nope"})
        assert problem(r, 401)["detail"] == "unknown API key"
        assert r.headers["www-authenticate"] == 'Bearer realm="varannot", error="invalid_token"'
        lab = {"Authorization": "Bearer lab-secret"}
        assert c.get("/v1/knowledge-base", headers=lab).status_code == 200
        assert c.get("/healthz").status_code == 200  # probes need no key
        job = c.post("/v1/jobs", json={"variants": ["TP53:p.R175H"]}, headers=lab).json()
        ci = {"Authorization": "Bearer ci-secret"}
        assert problem(c.get(f"/v1/jobs/{job['id']}", headers=ci), 404)["title"] == "Job not found"
        assert c.get(f"/v1/jobs/{job['id']}", headers=lab).status_code == 200


def test_rate_limit_per_key(
    engines: EngineSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The buckets' clock stands still: no token refills however slowly the requests run (a
    # loaded machine once let a third request through).
    from types import SimpleNamespace

    from varannot.service import security

    monkeypatch.setattr(security, "time", SimpleNamespace(monotonic=lambda: 1000.0))
    keys = [
        ApiKey(name="slow", sha256=hashlib.sha256(b"a").hexdigest(), rate_per_second=0.5),
        ApiKey(name="other", sha256=hashlib.sha256(b"b").hexdigest()),
    ]
    with make_client(engines, tmp_path / "d", api_keys=keys, rate_limit_burst=2) as c:
        slow = {"Authorization": "Bearer a"}
        assert [c.get("/v1/transcripts", headers=slow).status_code for _ in range(2)] == [200, 200]
        r = c.get("/v1/transcripts", headers=slow)
        doc = problem(r, 429)
        assert r.headers["retry-after"] == "2"
        assert doc["detail"] == "rate limit of 0.5 requests/s exceeded; retry in 2 s"
        # the other key (no rate of its own, default 0 = unlimited) is not affected
        other = {"Authorization": "Bearer b"}
        assert all(c.get("/v1/transcripts", headers=other).status_code == 200 for _ in range(5))


def test_cors_off_unless_configured(engines: EngineSet, tmp_path: Path) -> None:
    pre = {"Origin": "https://lims.example", "Access-Control-Request-Method": "POST"}
    with make_client(engines, tmp_path / "a") as c:
        r = c.options("/v1/annotate", headers=pre)
        assert "access-control-allow-origin" not in r.headers
    with make_client(engines, tmp_path / "b", cors_origins=["https://lims.example"]) as c:
        r = c.options("/v1/annotate", headers=pre)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://lims.example"


# --------------------------------------------------------------------------------------------
# jobs


def test_job_lifecycle_and_idempotency(client: TestClient) -> None:
    key = {"Idempotency-Key": "run-7-sample-3"}
    r = upload(client, "/v1/jobs", "run1.vcf", RUN1.read_bytes())
    r = client.post("/v1/jobs", files={"file": ("run1.vcf", RUN1.read_bytes())}, headers=key)
    assert r.status_code == 202
    first = r.json()
    assert r.headers["location"] == f"/v1/jobs/{first['id']}"
    assert first["inputs"] == ["run1.vcf"] and first["status"] in ("queued", "running")
    again = client.post("/v1/jobs", files={"file": ("run1.vcf", RUN1.read_bytes())}, headers=key)
    assert again.status_code == 202 and again.json()["id"] == first["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = client.post("/v1/jobs", files={"file": ("run2.vcf", RUN1.read_bytes())}, headers=key)
    assert problem(other, 422)["title"] == "Idempotency-Key reused with a different request"
    done = wait_job(client, first["id"])
    assert (done["status"], done["attempts"], done["error"]) == ("finished", 1, None)
    sync = upload(client, "/v1/annotate", "run1.vcf", RUN1.read_bytes()).json()
    assert done["result"] == sync
    assert client.get(f"/v1/jobs/{first['id']}/result").json() == sync


def test_failed_job_keeps_the_reason(client: TestClient, tmp_path: Path) -> None:
    r = upload(client, "/v1/jobs", "broken.vcf", b"##fileformat=VCFv4.2\nnot a header\n")
    job = wait_job(client, r.json()["id"])
    assert job["status"] == "failed" and job["result"] is None
    assert job["error"]["source"] == "broken.vcf" and job["error"]["status"] == 400
    doc = problem(client.get(f"/v1/jobs/{job['id']}/result"), 409)
    assert doc["detail"] == f"job {job['id']} is failed"
    assert not (tmp_path / "data" / "jobs" / job["id"]).exists()  # input removed when settled


def test_job_options_are_checked_when_submitted(client: TestClient) -> None:
    r = upload(client, "/v1/jobs", "run1.vcf", RUN1.read_bytes(), reporting_vaf="0.01",
               detection_floor="0.2")  # fmt: skip
    doc = problem(r, 400)
    assert doc["detail"].startswith("thresholds must satisfy 0 <= detection_floor <= reporting")
    r = client.post("/v1/jobs", json={"build": "GRCh37", "variants": ["TP53:p.R175H"], "x": 1})
    assert problem(r, 422)["errors"][0]["loc"] == ["x"]
    assert client.get("/metrics").text.count('varannot_jobs{status="queued"} 0.0') == 1


def test_jobs_refuse_what_annotate_refuses(engines38_real: EngineSet, tmp_path: Path) -> None:
    """#13: /v1/jobs used to queue these and fail them later; now the same 4xx as /v1/annotate."""
    grch37 = grch37_run1()
    bad_lists: list[dict[str, Any]] = [
        {"variants": ["TP53:p.R175H", "MEN1:p.Met327Ile", "nonsense"]},  # unreadable entries
        {"build": "GRCh37", "variants": ["TP53:p.R175H"]},  # no GRCh37 reference
        {"variants": ["NC_000017.10:g.7578406C>T"]},  # GRCh37 accession: no reference
    ]
    with make_client(engines38_real, tmp_path / "d") as c:
        for body in bad_lists:
            sync = problem(c.post("/v1/annotate", json=body), 422)
            job = problem(c.post("/v1/jobs", json=body), 422)
            assert job == sync | {"instance": "/v1/jobs"}, body
        sync = problem(upload(c, "/v1/annotate", "old.vcf", grch37), 422)
        job = problem(upload(c, "/v1/jobs", "old.vcf", grch37), 422)
        assert job == sync | {"instance": "/v1/jobs"}
        assert job["title"] == "No reference for this build"
        assert 'varannot_jobs{status="queued"} 0.0' in c.get("/metrics").text
        assert not any((tmp_path / "d" / "uploads").iterdir())  # staged upload removed
        jobs = tmp_path / "d" / "jobs"
        assert not jobs.exists() or not any(jobs.iterdir())


def test_job_ids(client: TestClient) -> None:
    assert problem(client.get("/v1/jobs/" + "0" * 32), 404)["detail"] == "no job " + "0" * 32
    assert problem(client.get("/v1/jobs/../../etc"), 404)["title"] == "Not found"
    assert problem(client.get("/v1/jobs/NOT-AN-ID"), 422)["title"] == "Invalid request"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    """SQLite by default; VARANNOT_TEST_DATABASE_URL runs the store tests on e.g. PostgreSQL."""
    url = os.environ.get("VARANNOT_TEST_DATABASE_URL")
    s = JobStore(url or database_url(None, tmp_path))
    if url:
        with s.engine.begin() as conn:
            conn.execute(jobs_table.delete())
    yield s
    s.dispose()


def test_store_recovers_interrupted_jobs(store: JobStore) -> None:
    for jid in ("a" * 32, "b" * 32):
        store.create(jid, {"kind": "json"}, fingerprint="f")
        assert store.claim("dead-server") is not None
    assert store.recover(max_attempts=2, all_running=False) == ([], [])  # leases still valid
    assert store.recover(max_attempts=2, all_running=True) == (["a" * 32, "b" * 32], [])
    a = store.get("a" * 32)
    assert a is not None and a.status == "queued"
    assert a.note == "requeued: the server (dead-server) stopped during attempt 1 of 2"
    assert store.claim("dead-again") is not None  # attempt 2 of 2
    assert store.recover(max_attempts=2, all_running=True) == ([], ["a" * 32])
    failed = store.get("a" * 32)
    assert failed is not None and failed.status == "failed" and failed.error is not None
    assert failed.error["title"] == "Job interrupted"
    assert failed.error["detail"].startswith("the server running this job stopped before it")
    assert store.counts() == {"queued": 1, "running": 0, "finished": 0, "failed": 1}


def test_idempotency_key_is_per_owner(store: JobStore) -> None:
    a, created_a = store.create("a" * 32, {}, fingerprint="x", owner="lab", idempotency_key="k")
    b, created_b = store.create("b" * 32, {}, fingerprint="y", owner="ci", idempotency_key="k")
    c, created_c = store.create("c" * 32, {}, fingerprint="x", owner="lab", idempotency_key="k")
    assert (created_a, created_b, created_c) == (True, True, False)
    assert c.id == a.id and b.id != a.id


def test_one_server_per_sqlite_data_dir(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(DataDirLocked, match="the data directory is used by pid"):
            DataDirLock(tmp_path).acquire()
    finally:
        first.release()
    DataDirLock(tmp_path).acquire()


def test_metrics(client: TestClient) -> None:
    upload(client, "/v1/annotate", "run1.vcf", RUN1.read_bytes())
    client.post("/v1/annotate", json={"variants": ["bad"]})
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert (
        'varannot_http_requests_total{method="POST",route="/v1/annotate",status="200"} 1.0' in text
    )
    assert (
        'varannot_http_requests_total{method="POST",route="/v1/annotate",status="422"} 1.0' in text
    )
    assert 'varannot_problems_total{status="422",title="Invalid variants"} 1.0' in text
    assert 'varannot_jobs{status="queued"} 0.0' in text
    assert 'varannot_documents_total{path="sync"} 1.0' in text
    assert 'varannot_reference_info{build="GRCh37"} 1.0' in text
