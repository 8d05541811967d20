"""The page's server side without a browser: ``GET /``, its static files, ``/v1/render`` and the
``trace_windows`` upload field (the browser itself is in ``test_page_browser.py``).

SYNTHETIC trace: ``varannot.sanger.simulate`` on the real TP53 GRCh38 sequence (from ``../shared``)
with a heterozygous R175H; VCF lines are test-built (BCL2 G101V).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED, require_shared
from fastapi.testclient import TestClient

from varannot.report import render_report
from varannot.sanger.simulate import SimVariant, simulate_trace, write_abif
from varannot.schema import ResultDocument
from varannot.service import ApiKey, EngineSet, ServiceSettings, create_app
from varannot.writers import calls_tsv, to_json, variants_tsv

TP53_FA = (
    SHARED
    / "reference-sources/genomic/TP53_GRCh38_chr17_7659779-7692550_plus_strand_from_NG_017013.2.fa"
)
VCF = (
    "##fileformat=VCFv4.2\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n'
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP2\n"
    "chr18\t63318365\t.\tC\tA\t50\tPASS\t.\tGT:AD:DP\t0/1:70,30:100\n"
)


@pytest.fixture(scope="module")
def engines(kb_fasta: dict[str, Path]) -> EngineSet:
    return EngineSet.load(ServiceSettings(fastas=[kb_fasta["GRCh38"]], builds=["GRCh38"]))


def client(es: EngineSet, data_dir: Path, **settings: Any) -> TestClient:
    s = ServiceSettings(
        fastas=[Path(e.reference.name) for e in es.engines.values()], data_dir=data_dir,
        **settings,
    )  # fmt: skip
    return TestClient(create_app(s, engines=es), raise_server_exceptions=False)


@pytest.fixture
def c(engines: EngineSet, tmp_path: Path) -> Iterator[TestClient]:
    with client(engines, tmp_path / "data") as tc:
        yield tc


@pytest.fixture(scope="module")
def het_trace(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    require_shared()
    tp53 = "".join(ln.strip() for ln in TP53_FA.open() if not ln.startswith(">")).upper()
    i = 7675088 - 7659779
    sim = simulate_trace(tp53, [SimVariant(i, "C", "T", "het")], start=i - 300, length=600, seed=3)
    return write_abif(sim, tmp_path_factory.mktemp("t") / "x.ab1").read_bytes()


def test_page_and_its_files_are_served_with_a_strict_policy(c: TestClient) -> None:
    r = c.get("/")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "unsafe" not in csp
    assert '<script src="static/app.js" defer></script>' in r.text
    assert "http://" not in r.text and "https://" not in r.text  # nothing fetched elsewhere
    js = c.get("/static/app.js")
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert ".innerHTML" not in js.text and "eval(" not in js.text
    assert c.get("/static/app.css").headers["content-type"] == "text/css; charset=utf-8"
    assert c.get("/static/index.html").status_code == 404
    assert c.get("/static/..%2Fweb%2F__init__.py").status_code == 404
    # the page is not an API operation
    assert "/" not in c.get("/openapi.json").json()["paths"]


def test_render_uses_the_library_writers(c: TestClient) -> None:
    r = c.post("/v1/annotate", files={"file": ("P2.vcf", VCF.encode())})
    assert r.status_code == 200, r.text
    doc = ResultDocument.model_validate_json(r.text)
    for name, expected in [
        ("calls.tsv", calls_tsv(doc)),
        ("variants.tsv", variants_tsv(doc)),
        ("results.json", to_json(doc)),
        ("report.html", render_report(doc, Path("."))),
    ]:
        out = c.post(
            f"/v1/render/{name}", content=r.text, headers={"content-type": "application/json"}
        )
        assert out.status_code == 200, out.text
        assert out.text == expected
        assert out.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert "venetoclax\tBCL2 inhibitor\tresistant" in calls_tsv(doc)
    bad = c.post("/v1/render/calls.tsv", json={"samples": []})
    assert bad.status_code == 422 and bad.json()["title"] == "Invalid request"
    assert c.post("/v1/render/report.pdf", content=r.text).status_code == 422


def test_render_refuses_a_negative_read_depth(c: TestClient) -> None:
    """Found by schemathesis: a posted document with a negative depth in a BAM depth track made
    the report's log-scale coverage plot raise (HTTP 500). Depths are counts: 422 now."""
    r = c.post("/v1/annotate", files={"file": ("P2.vcf", VCF.encode())})
    doc = r.json()
    doc["samples"][0]["depth_profile"] = [
        {"gene": "TP53", "chrom": "chr17", "start": 7675000, "depth": [30, -1]}
    ]
    bad = c.post("/v1/render/report.html", json=doc)
    assert bad.status_code == 422, bad.text
    doc["samples"][0]["depth_profile"][0]["depth"] = [30, 0]
    ok = c.post("/v1/render/report.html", json=doc)
    assert ok.status_code == 200, ok.text
    assert "<svg" in ok.text
    doc["samples"][0]["depth_profile"][0]["depth"] = []  # no positions: no plot, no error
    empty = c.post("/v1/render/report.html", json=doc)
    assert empty.status_code == 200, empty.text


def test_render_needs_the_key_like_every_api_call(engines: EngineSet, tmp_path: Path) -> None:
    keys = [ApiKey(name="lab", sha256=hashlib.sha256(b"lab-secret").hexdigest())]
    with client(engines, tmp_path / "d", api_keys=keys) as tc:
        assert tc.get("/").status_code == 200  # the page itself holds no data
        assert tc.post("/v1/render/calls.tsv", json={}).status_code == 401


def test_trace_windows_field_and_client_file_names(c: TestClient, het_trace: bytes) -> None:
    plain = c.post("/v1/annotate", files={"file": ("S9_F.ab1", het_trace)})
    assert plain.status_code == 200, plain.text
    assert "windows" not in plain.json()["samples"][0]["traces"][0]
    r = c.post(
        "/v1/annotate", files={"file": ("S9_F.ab1", het_trace)}, data={"trace_windows": "true"}
    )
    assert r.status_code == 200, r.text
    (sample,) = r.json()["samples"]
    (details,) = sample["traces"]
    variant = [w for w in details["windows"] if w["kind"] == "variant"]
    assert [(w["label"], w["trace"]) for w in variant] == [("chr17:7675088 C>T", "S9_F.ab1")]
    # the server's stored names and paths never reach the document
    text = json.dumps(r.json())
    assert "input-1" not in text and "/uploads/" not in text
    assert details["traces"][0]["trace"] == "S9_F.ab1"
    (v,) = [v for v in sample["variants"] if v["gene"] == "TP53"]
    assert v["record"].startswith("S9_F.ab1 trace position ")
