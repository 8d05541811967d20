"""Report size and render time for a plate (96 samples), a cohort (2,000) and a ClinVar-sized
sample set (4 samples x 3,821 TP53 variants), on SYNTHETIC variants at real positions.

Observations are generated directly (no VCF parsing: that is ``run_throughput.py``'s job): per
sample 0-3 SNVs at random N-free positions of the real TP53/BCL2/BAX sequence of ``../shared``
(the REF read off it, so REFs match), every 8th sample also BCL2 G101V (chr18:63318365 C>A) at
VAF 0.04-0.5. They are annotated and called by ``Engine.run`` and rendered by
``varannot.report.render_report``. Prints, per scenario: samples, variants, HTML size, Python
render time and, when a ``chromium`` binary is on PATH, the time headless Chromium needs to load
and lay out the page (``performance.now()`` at the load event after a forced layout).
Prints figures; asserts nothing.

Usage: ``python benchmarks/report_size.py [--scenarios plate cohort clinvar]``
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from shared_mirror import grch38_segments  # noqa: E402
from synthetic import synthetic_men1, write_fasta  # noqa: E402

from varannot.api import Engine  # noqa: E402
from varannot.models import InputBatch, Observation  # noqa: E402
from varannot.report import render_report  # noqa: E402

SHARED = Path(os.environ.get("VARANNOT_SHARED", ROOT.parent / "shared"))


def sites(segments: list[tuple[str, int, str]], gene_chroms: tuple[str, ...], n: int, seed: int):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    out = []
    segs = [s for s in segments if s[0] in gene_chroms]
    while len(out) < n:
        chrom, start, seq = rng.choice(segs)
        i = rng.randrange(len(seq))
        if seq[i] in "ACGT":
            alt = rng.choice([b for b in "ACGT" if b != seq[i]])
            out.append((chrom, start + i, seq[i], alt))
    return out


def batches(n_samples: int, per_sample: tuple[int, int], pool: list, seed: int) -> list[InputBatch]:  # type: ignore[type-arg]
    rng = random.Random(seed)
    out = []
    for k in range(n_samples):
        name = f"S{k + 1:04d}"
        b = InputBatch(source=f"{name}.vcf", kind="vcf", samples=[name])
        chosen = rng.sample(pool, rng.randint(*per_sample))
        if k % 8 == 0:
            chosen.append(("chr18", 63318365, "C", "A"))
        for j, (chrom, pos, ref, alt) in enumerate(chosen):
            depth = rng.randint(80, 600)
            vaf = rng.choice([0.04, 0.12, 0.3, 0.5]) if pos == 63318365 else rng.uniform(0.05, 0.6)
            b.observations.append(
                Observation(name, chrom, pos, ref, alt, b.source, f"line {j + 2}", "0/1",
                            depth=depth, alt_depth=round(depth * vaf), vaf=vaf)
            )  # fmt: skip
        b.records_read = len(chosen)
        out.append(b)
    return out


def chromium_seconds(page: Path, binary: str) -> tuple[float | None, float, str]:
    """(seconds from navigation to a laid-out page as the browser measures it, wall seconds
    of the whole headless Chromium run, page width / window width at 1024 px)."""
    probe = page.with_name(page.stem + ".probe.html")
    script = (
        "<script>addEventListener('load',()=>{void document.body.offsetHeight;"
        "const d=document.documentElement;document.title='LAYOUT_MS='+Math.round("
        "performance.now())+' W='+d.scrollWidth+'/'+d.clientWidth})</script></body>"
    )
    probe.write_text(page.read_text().replace("</body>", script))
    t0 = time.perf_counter()
    res = subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1024,800",
         "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    m = re.search(r"LAYOUT_MS=(\d+) W=(\d+/\d+)", res.stdout)
    return (int(m.group(1)) / 1000 if m else None, wall, m.group(2) if m else "?")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", nargs="+", default=["plate", "cohort", "clinvar"])
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs the shared data folder ({SHARED}); set VARANNOT_SHARED")
    segments = list(grch38_segments(SHARED))
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        fasta = write_fasta(
            d / "GRCh38.fa",
            [s for s in segments if s[0] != "chr11"] + [synthetic_men1(SHARED, "GRCh38")],
            "benchmark",
        )
        engine = Engine(fasta, "GRCh38")
        pool = sites(segments, ("chr17", "chr18", "chr19"), 400, 1)
        tp53 = sites(segments, ("chr17",), 3821, 2)
        scen = {
            "plate": lambda: batches(96, (0, 3), pool, 3),
            "cohort": lambda: batches(2000, (0, 3), pool, 4),
            "clinvar": lambda: [
                InputBatch(
                    f"clinvar{k}.vcf",
                    "vcf",
                    [f"C{k}"],
                    observations=[
                        Observation(
                            f"C{k}",
                            c,
                            p,
                            r,
                            a,
                            f"clinvar{k}.vcf",
                            f"line {j}",
                            "0/1",
                            depth=100,
                            alt_depth=40,
                            vaf=0.4,
                        )
                        for j, (c, p, r, a) in enumerate(tp53)
                    ],
                )
                for k in range(4)
            ],  # fmt: skip
        }
        for name in args.scenarios:
            doc = engine.run(scen[name]())
            out = d / name
            out.mkdir()
            t0 = time.perf_counter()
            text = render_report(doc, out, {}, ["calls.tsv", "variants.tsv"])
            t_render = time.perf_counter() - t0
            page = out / "report.html"
            page.write_text(text)
            n_var = sum(len(s.variants) for s in doc.samples)
            line = (
                f"{name}: {len(doc.samples)} samples, {n_var} variants in the genes: report "
                f"{len(text.encode()) / 1e6:.2f} MB, rendered by Python in {t_render:.2f} s"
            )
            if browser:
                layout, wall, width = chromium_seconds(page, browser)
                shown = "?" if layout is None else f"{layout:.2f}"
                line += (
                    f"; Chromium: laid out {shown} s after navigation ({wall:.1f} s wall), "
                    f"page/window width {width} px"
                )
            print(line, flush=True)


if __name__ == "__main__":
    main()
