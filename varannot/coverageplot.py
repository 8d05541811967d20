"""Read-depth plots for the report: one inline SVG per gene across its piled-up exons.

A lab reading "no known resistance" from a BAM wants to see where the reads were thin; the plot
puts each coding exon (± splice region) side by side in genomic order, depth on a log scale,
the ``--min-depth`` line dashed and positions below it marked red. Inline SVG: the report stays
one self-contained file.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from statistics import median

from .schema import DepthTrackOut

WIDTH, HEIGHT, GAP, PAD = 720, 120, 4, 30


def gene_svg(tracks: Sequence[DepthTrackOut], min_depth: int) -> str:
    """SVG of the depth across ``tracks`` (one gene), log10 scale, min-depth line dashed."""
    tracks = sorted(tracks, key=lambda t: (t.chrom, t.start))
    total = sum(len(t.depth) for t in tracks)
    if not total:
        return ""
    top = max(max((max(t.depth) for t in tracks if t.depth), default=1), min_depth, 10)
    span = WIDTH - PAD - GAP * (len(tracks) - 1)

    def y(d: int) -> float:
        return HEIGHT - 15 - (HEIGHT - 25) * math.log10(max(d, 0) + 1) / math.log10(top + 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" style="font:10px sans-serif">'
    ]
    x0 = float(PAD)
    for t in tracks:
        w = span * len(t.depth) / total
        step = w / max(1, len(t.depth))
        pts = " ".join(f"{x0 + i * step:.1f},{y(d):.1f}" for i, d in enumerate(t.depth))
        where = f"{html.escape(t.chrom)}:{t.start}-{t.start + len(t.depth) - 1}"
        parts.append(
            f'<g><title>{where}</title><polyline fill="none" stroke="#2b6cb0" '
            f'stroke-width="1" points="{pts}"/></g>'
        )
        for i, d in enumerate(t.depth):
            if d < min_depth:
                parts.append(
                    f'<rect x="{x0 + i * step:.1f}" y="{HEIGHT - 14}" width="{max(step, 1):.1f}" '
                    'height="4" fill="#c53030"/>'
                )
        x0 += w + GAP
    ym = y(min_depth)
    parts.append(
        f'<line x1="{PAD}" x2="{WIDTH}" y1="{ym:.1f}" y2="{ym:.1f}" stroke="#c53030" '
        'stroke-dasharray="4 3"/>'
    )
    for d in (10, 100, 1000, 10000, 100000):
        if d <= top:
            parts.append(f'<text x="0" y="{y(d) + 3:.1f}">{d:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


def coverage_section(tracks: Sequence[DepthTrackOut], min_depth: int) -> str:
    """HTML: a heading and one captioned plot per gene (empty when there is no read depth)."""
    if not tracks:
        return ""
    by_gene: dict[str, list[DepthTrackOut]] = {}
    for t in tracks:
        by_gene.setdefault(t.gene or t.chrom, []).append(t)
    out = ["<h4>Read coverage</h4>"]
    for gene, ts in by_gene.items():
        depths = [d for t in ts for d in t.depth]
        if not depths:  # a track with no positions (a posted document): nothing to draw
            continue
        low = sum(1 for d in depths if d < min_depth)
        caption = (
            f"{html.escape(gene)}: {len(depths):,} positions (coding exons ± splice region, "
            f"knowledge-base loci), median {median(depths):,.0f}x, least {min(depths):,}x"
            + (f"; {low:,} below --min-depth {min_depth}" if low else "")
        )
        out.append(f"<figure>{gene_svg(ts, min_depth)}<figcaption>{caption}</figcaption></figure>")
    return "".join(out)
