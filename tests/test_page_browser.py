"""The browser page (``GET /``) in a real browser: Debian's chromium driven by Playwright.

The service runs as a real process on 127.0.0.1 (``LiveServer``); the page uploads files the
way a person would (file chooser, drag and drop, samplesheet) and every assertion reads what the
page shows, checked against the API's own document for the same files. Inputs: a real trace
from ``../shared/testdata-sources/traces`` (not of our genes: it must come out unplaced and
"not assessed"), a real VCF from ``../shared/testdata-sources/vcf``, test-built VCF lines, and
SYNTHETIC forward/reverse reads (``varannot.tracesim``, real TP53 sequence from ``../shared``)
with a heterozygous TP53 R175H. A full-page screenshot is written under pytest's tmp dir.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from conftest import SHARED, require_shared
from test_service_e2e import LiveServer

from varannot.report import render_report
from varannot.sanger.simulate import SimVariant, simulate_trace, write_abif
from varannot.schema import ResultDocument
from varannot.writers import calls_tsv, variants_tsv

CHROMIUM = Path(os.environ.get("VARANNOT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TP53_FA = (
    SHARED
    / "reference-sources/genomic/TP53_GRCh38_chr17_7659779-7692550_plus_strand_from_NG_017013.2.fa"
)
TP53_START = 7659779
REAL_TRACE = SHARED / "testdata-sources/traces/sangerseqR/heterozygous.ab1"
REAL_VCF = SHARED / "testdata-sources/vcf/tcga_somatic_callers/vcf2maf_test_grch38.vcf"
VCF_HEADER = (
    "##fileformat=VCFv4.2\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n'
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}\n"
)
G101V = "chr18\t63318365\t.\tC\tA\t50\tPASS\t.\tGT:AD:DP\t0/1:70,30:100\n"  # BCL2 p.G101V
HOSTILE = '<img src=x onerror="window.pwned=1">P&1'


def need_browser() -> Any:
    """Playwright's sync API, or a skip (a failure under CI=true) when chromium is missing."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {CHROMIUM} is missing (.ci/run installs it)")
        pytest.skip(f"{CHROMIUM} not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    return sync_api


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = need_browser()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(kb_fasta: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("page")
    s = LiveServer(kb_fasta["GRCh38"], d / "data")
    yield s.url
    s.stop()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """S9.F.ab1 + S9.R.ab1 (SYNTHETIC het R175H), the real trace and VCFs, in one folder."""
    require_shared()
    d = tmp_path_factory.mktemp("inputs")
    tp53 = "".join(ln.strip() for ln in TP53_FA.open() if not ln.startswith(">")).upper()
    i = 7675088 - TP53_START
    assert tp53[i] == "C"
    out: dict[str, Path] = {}
    strands: tuple[tuple[Literal["+", "-"], str], ...] = (("+", "F"), ("-", "R"))
    for strand, tag in strands:
        sim = simulate_trace(
            tp53, [SimVariant(i, "C", "T", "het")], start=i - 300, length=600, strand=strand,
            seed=3 + (strand == "-"), name=f"S9.{tag}.ab1",
        )  # fmt: skip
        out[tag] = write_abif(sim, d / sim.name)
    out["real_trace"] = Path(shutil.copy(REAL_TRACE, d / REAL_TRACE.name))
    out["real_vcf"] = Path(shutil.copy(REAL_VCF, d / REAL_VCF.name))
    out["p2"] = d / "P2.vcf"
    out["p2"].write_text(VCF_HEADER.format(sample="P2") + G101V)
    out["hostile"] = d / "hostile.vcf"
    out["hostile"].write_text(VCF_HEADER.format(sample=HOSTILE) + G101V)
    return out


def api_doc(url: str, files: list[Path], **fields: str) -> dict[str, Any]:
    """What the API itself answers for the same files (the page must show exactly this)."""
    parts = [("file", (f.name, f.read_bytes(), "application/octet-stream")) for f in files]
    r = httpx.post(f"{url}/v1/annotate", files=parts, data=fields, timeout=120)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def open_page(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    failed: list[tuple[int, str, str]] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # the browser logs every 4xx as a console error: those are checked as responses instead
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            failed.append((r.status, r.request.method, r.url.split(url, 1)[-1]))
            if r.status >= 400
            else None
        ),
    )
    page.set_default_timeout(90_000)
    page.goto(f"{url}/")
    expect = need_browser().expect
    expect(page.locator("#server-info")).to_have_text(re.compile(r"^varannot \S+$"))
    page.js_errors = errors
    page.failed = failed
    return page


def annotate(page: Any) -> None:
    page.get_by_role("button", name="Annotate").click()
    page.wait_for_selector("#results:not([hidden])")


def shown_calls(page: Any, sample: str) -> dict[str, str]:
    """drug -> call, read from the chips of one sample's section."""
    sec = page.locator("section.sample", has=page.get_by_role("heading", name=sample, exact=True))
    chips = sec.locator(".calls .chip")
    return {
        chips.nth(k).get_attribute("data-drug"): chips.nth(k).get_attribute("data-call")
        for k in range(chips.count())
    }


def download(page: Any, label: str) -> str:
    with page.expect_download() as dl:
        page.locator(f"[data-download='{label}']").click()
    path = dl.value.path()
    return Path(path).read_text(encoding="utf-8")


def test_page_traces_and_vcfs(
    browser: Any, server: str, inputs: dict[str, Path], tmp_path: Path
) -> None:
    page = open_page(browser, server)
    assert page.title() == "varannot: resistance calls from Sanger traces and VCFs"
    # every form control has a label (accessibility)
    unlabelled = page.evaluate(
        "() => [...document.querySelectorAll('input, select, button')]"
        ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')"
        " && !e.textContent.trim()).map(e => e.id || e.outerHTML)"
    )
    assert unlabelled == []
    files = [inputs["F"], inputs["R"], inputs["real_trace"], inputs["real_vcf"], inputs["p2"]]
    page.set_input_files("#files", [str(f) for f in files])
    assert page.locator("#file-list li").count() == 5
    annotate(page)

    # the page shows the API's own calls, drug by drug, for every sample
    s9 = api_doc(server, [inputs["F"], inputs["R"]], sample="S9")
    real = api_doc(server, [inputs["real_trace"]], sample="heterozygous")
    vcfs = api_doc(server, [inputs["real_vcf"], inputs["p2"]])
    expected = {s["sample"]: s for d in (s9, real, vcfs) for s in d["samples"]}
    headings = page.locator("section.sample h3").all_text_contents()
    assert sorted(headings) == sorted(expected)
    for name, s in expected.items():
        assert shown_calls(page, name) == {c["drug"]: c["call"] for c in s["calls"]}, name
    # the knowledge base says TP53 R175H and BCL2 G101V matter: not "no known resistance"
    s9_calls = shown_calls(page, "S9")
    assert s9_calls["idasanutlin"] in ("resistant", "likely_resistant")
    assert shown_calls(page, "P2")["venetoclax"] in ("resistant", "likely_resistant")
    # a plain VCF's clean calls are marked "coverage unknown", never shown bare
    p2 = page.locator("section.sample", has=page.get_by_role("heading", name="P2"))
    revumenib = p2.locator(".calls .chip[data-drug='revumenib']")
    assert revumenib.get_attribute("data-call") == "no_known_resistance"
    assert (
        revumenib.get_attribute("aria-label") == "revumenib: no known resistance, coverage unknown"
    )
    assert revumenib.inner_text() == "revumenib: no known resistance ?"
    # the real trace is not of these genes: unplaced, every drug "not assessed", reason shown
    assert set(shown_calls(page, "heterozygous").values()) == {"not_assessed"}
    het = page.locator("section.sample", has=page.get_by_role("heading", name="heterozygous"))
    assert "not placed:" in het.locator("table").first.inner_text()

    # variants with both HGVS, chromatograms of both reads at the call
    s9_sec = page.locator("section.sample", has=page.get_by_role("heading", name="S9"))
    vtext = s9_sec.locator("table", has_text="HGVS (MANE Select)").inner_text()
    assert "NM_000546.6:c.524G>A" in vtext and "NP_000537.3:p.(Arg175His)" in vtext
    figs = s9_sec.locator("figure.chromatogram[data-kind='variant']")
    assert [
        (figs.nth(k).get_attribute("data-label"), figs.nth(k).get_attribute("data-trace"))
        for k in range(figs.count())
    ] == [("chr17:7675088 C>T", "S9.F.ab1"), ("chr17:7675088 C>T", "S9.R.ab1")]
    residues = s9_sec.locator("figure.chromatogram[data-kind='residue']")
    assert residues.count() >= 2
    s9_sec.get_by_text("Knowledge-base loci the reads cover").click()
    # equal het peaks: the C and T heights printed under the plot, from the trace data
    heights = figs.nth(0).locator(".site-heights").inner_text()
    assert heights.startswith("7675088 ref C call ")
    h = {b: int(n) for b, n in re.findall(r"\b([ACGT]) (\d+)\b", heights.split(":", 1)[1])}
    assert min(h["C"], h["T"]) > 0.6 * max(h["C"], h["T"]) and max(h["A"], h["G"]) < 30, h
    # the canvas is drawn (the T channel's red is on it) and zooming redraws it
    canvas = figs.nth(0).locator("canvas")
    red = "([...c.getContext('2d').getImageData(0,0,c.width,c.height).data].reduce((n,v,i,a)=>" \
        "i%4===0&&a[i]>180&&a[i+1]<60&&a[i+2]<60?n+1:n,0))"  # fmt: skip
    assert canvas.evaluate(f"c => {red}") > 100
    before = canvas.evaluate("c => c.toDataURL()")
    canvas.focus()
    page.keyboard.press("+")
    page.keyboard.press("+")
    assert canvas.evaluate("c => c.toDataURL()") != before
    figs.nth(0).get_by_role("button", name="Reset the view: chr17:7675088 C>T in S9.F.ab1").click()
    assert canvas.evaluate("c => c.toDataURL()") == before
    # placement of the reads on TP53
    svg_label = s9_sec.locator("svg.placement").get_attribute("aria-label")
    assert svg_label == "Placement of 2 read(s) of S9 on TP53"
    assert "S9.R.ab1 (-)" in s9_sec.locator("svg.placement").inner_html()

    # downloads: the library's writers on the document the page shows
    doc = ResultDocument.model_validate_json(download(page, "results.json"))
    assert sorted(s.sample for s in doc.samples) == sorted(expected)
    assert download(page, "calls.tsv") == calls_tsv(doc)
    assert download(page, "variants.tsv") == variants_tsv(doc)
    rows = list(csv.DictReader(io.StringIO(calls_tsv(doc)), delimiter="\t"))
    assert {(r["sample"], r["drug"]) for r in rows} >= {("S9", "idasanutlin"), ("P2", "venetoclax")}
    report = download(page, "report.html")
    assert report == render_report(doc, Path("."))
    assert report.startswith("<!DOCTYPE html>") and "S9" in report

    shot = tmp_path / "varannot-page.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
    keep = os.environ.get("VARANNOT_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)
    assert page.js_errors == [] and page.failed == []
    page.close()


def test_page_escapes_input_text_and_takes_a_samplesheet(
    browser: Any, server: str, inputs: dict[str, Path], tmp_path: Path
) -> None:
    page = open_page(browser, server)
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("sample,file\nPatient 9,S9.F.ab1\nPatient 9,S9.R.ab1\nhx,hostile.vcf\n")
    # the VCF arrives by drag and drop, the rest by the file chooser
    page.set_input_files("#files", [str(inputs["F"]), str(inputs["R"]), str(sheet)])
    data = inputs["hostile"].read_text()
    page.evaluate(
        """([name, text]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], name, {type: 'text/plain'}));
            document.getElementById('drop').dispatchEvent(
                new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""",
        ["hostile.vcf", data],
    )
    assert page.locator("#file-list .name").all_text_contents() == [
        "S9.F.ab1", "S9.R.ab1", "sheet.csv", "hostile.vcf",
    ]  # fmt: skip
    annotate(page)
    headings = page.locator("section.sample h3").all_text_contents()
    assert sorted(headings) == sorted(["Patient 9", HOSTILE])
    # the VCF sample name is shown as text: no element made from it, no script run
    assert page.evaluate("window.pwned") is None
    assert page.locator("#samples img").count() == 0
    assert page.locator("#summary").get_by_text(HOSTILE).count() == 1
    assert (
        page.locator("section.sample", has_text="Patient 9")
        .locator("figure.chromatogram[data-kind='variant']")
        .count()
        == 2
    )
    # a file the samplesheet does not name is refused before anything is sent
    page.get_by_role("button", name="Clear").click()
    named = [inputs["F"], inputs["R"], inputs["hostile"]]
    page.set_input_files("#files", [str(f) for f in [*named, inputs["p2"], sheet]])
    page.get_by_role("button", name="Annotate").click()
    err = page.get_by_role("alert")
    err.wait_for()
    assert err.inner_text() == "not in the samplesheet sheet.csv: P2.vcf"
    assert page.js_errors == []
    page.close()


def test_page_asks_for_an_api_key_and_uses_a_job(
    browser: Any, kb_fasta: dict[str, Path], inputs: dict[str, Path], tmp_path: Path
) -> None:
    key = "bench-key-17"
    digest = hashlib.sha256(key.encode()).hexdigest()
    env = {"VARANNOT_API_KEYS": f"lab:{digest}", "VARANNOT_MAX_SYNC_UPLOAD_BYTES": "2000"}
    s = LiveServer(kb_fasta["GRCh38"], tmp_path / "data", env=env)
    try:
        page = open_page(browser, s.url)
        page.set_input_files("#files", [str(inputs["p2"]), str(inputs["F"])])
        page.get_by_role("button", name="Annotate").click()
        dialog = page.get_by_role("dialog", name="API key required")
        dialog.wait_for()
        page.get_by_role("textbox", name="API key").fill("wrong")
        dialog.get_by_role("button", name="Use key").click()
        need_browser().expect(page.locator("#key-why")).to_have_text(
            "The server refused this API key; enter another one."
        )
        page.get_by_role("textbox", name="API key").fill(key)
        dialog.get_by_role("button", name="Use key").click()
        page.wait_for_selector("#results:not([hidden])")
        # the trace upload is over the sync limit: it went through POST /v1/jobs
        jobs = httpx.get(
            f"{s.url}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10
        ).text
        assert 'varannot_documents_total{path="job"} 1.0' in jobs, jobs[-2000:]
        assert shown_calls(page, "P2")["venetoclax"] in ("resistant", "likely_resistant")
        assert page.locator("section.sample", has_text="S9").count() == 1
        # downloads carry the key too
        assert download(page, "calls.tsv").startswith("sample\tdrug\t")
        assert json.loads(download(page, "results.json"))["build"] == "GRCh38"
        assert page.js_errors == []
        # no key, a wrong key, then the trace upload over the sync limit (413 -> a job)
        assert page.failed == [
            (401, "POST", "/v1/annotate"),
            (401, "POST", "/v1/annotate"),
            (413, "POST", "/v1/annotate"),
        ]
        page.close()
    finally:
        s.stop()
