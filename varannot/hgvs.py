"""HGVS vocabulary: the genetic code, amino-acid names, and c./p. string formatting.

Formatting follows the HGVS recommendations (v21): predicted protein changes in parentheses,
3-letter amino acids, ``Ter`` for stop, ``=`` for synonymous, ``fsTer`` with the new stop
counted from the first changed residue.
"""

from __future__ import annotations

from .models import ProteinChange

_BASES = "TCAG"
_AA_TABLE = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
CODON_TABLE: dict[str, str] = {
    a + b + c: _AA_TABLE[16 * i + 4 * j + k]
    for i, a in enumerate(_BASES)
    for j, b in enumerate(_BASES)
    for k, c in enumerate(_BASES)
}
AA3: dict[str, str] = {
    "A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln", "E": "Glu",
    "G": "Gly", "H": "His", "I": "Ile", "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe",
    "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp", "Y": "Tyr", "V": "Val", "*": "Ter",
    "X": "Xaa", "U": "Sec",
}  # fmt: skip
AA1: dict[str, str] = {v: k for k, v in AA3.items()}
_COMP = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def revcomp(seq: str) -> str:
    return seq.translate(_COMP)[::-1]


def _translate_all(seq: str) -> str:
    get = CODON_TABLE.get
    return "".join([get(seq[i : i + 3], "X") for i in range(0, len(seq) - 2, 3)])


def translate(seq: str, to_stop: bool = False) -> str:
    """Translate whole codons; a codon with any non-ACGT base gives 'X'.

    With ``to_stop`` the result ends at (and includes) the first stop; translation goes in
    chunks so a frameshift that meets a stop early does not translate the whole tail.
    """
    if not to_stop:
        return _translate_all(seq)
    out = []
    step = 96  # codon-aligned chunk
    for i in range(0, len(seq), step):
        aa = _translate_all(seq[i : i + step + 2][: (len(seq[i : i + step + 2]) // 3) * 3][:step])
        k = aa.find("*")
        if k >= 0:
            out.append(aa[: k + 1])
            break
        out.append(aa)
    return "".join(out)


def aa3(seq: str) -> str:
    return "".join(AA3[a] for a in seq)


def protein_change(
    accession: str,
    ref: str,
    alt: str,
    p: int,
    ref_end: int,
    alt_end: int,
    *,
    frameshift: bool,
    extension: bool = False,
) -> ProteinChange:
    """Describe the difference between protein ``ref`` and ``alt`` (1-letter, '*' for stop).

    ``p`` is the 0-based first differing index; ``ref[p:ref_end]`` was replaced by
    ``alt[p:alt_end]`` (both after 3'-most trimming). Frameshifts and extensions describe the
    new C-terminus up to the new stop (or ``Ter?`` when the sequence runs out).
    """
    pos = p + 1
    r = ref[p] if p < len(ref) else ""
    if frameshift and not (p < len(alt) and alt[p] == "*"):
        if p >= len(ref) or r == "*":
            return _extension(accession, ref, alt, p)
        a = alt[p] if p < len(alt) else "X"
        stop = alt.find("*", p)
        ter = str(stop - p + 1) if stop >= 0 else "?"
        return ProteinChange(
            accession, f"p.({AA3[r]}{pos}{AA3[a]}fsTer{ter})", f"{r}{pos}{a}fs*{ter}",
            "frameshift", pos, pos, r, a,
        )  # fmt: skip
    dref, dalt = ref[p:ref_end], alt[p:alt_end]
    if extension or (dref.startswith("*") and dalt and dalt[0] != "*"):
        return _extension(accession, ref, alt, p)
    if p == 0 and dref and dref[0] == "M":
        return ProteinChange(accession, "p.(Met1?)", "M1?", "start_lost", 1, 1, "M", "")
    if len(dref) == 1 and len(dalt) == 1:
        kind = "nonsense" if dalt == "*" else "missense"
        return ProteinChange(
            accession, f"p.({AA3[dref]}{pos}{AA3[dalt]})", f"{dref}{pos}{dalt}", kind,
            pos, pos, dref, dalt,
        )  # fmt: skip
    if dalt.startswith("*") and dref:
        # the first changed residue becomes a stop: a nonsense change whatever follows
        return ProteinChange(
            accession, f"p.({AA3[dref[0]]}{pos}Ter)", f"{dref[0]}{pos}*", "nonsense",
            pos, pos, dref[0], "*",
        )  # fmt: skip
    end = p + len(dref)  # 1-based last deleted residue
    if not dalt:
        if len(dref) == 1:
            h, s = f"{AA3[dref]}{pos}del", f"{dref}{pos}del"
        else:
            h = f"{AA3[dref[0]]}{pos}_{AA3[dref[-1]]}{end}del"
            s = f"{dref[0]}{pos}_{dref[-1]}{end}del"
        return ProteinChange(accession, f"p.({h})", s, "inframe_deletion", pos, end, dref, "")
    if not dref:
        n = len(dalt)
        if p - n >= 0 and ref[p - n : p] == dalt:
            d1, d2 = p - n + 1, p
            if n == 1:
                h, s = f"{AA3[dalt]}{d2}dup", f"{dalt}{d2}dup"
            else:
                h = f"{AA3[dalt[0]]}{d1}_{AA3[dalt[-1]]}{d2}dup"
                s = f"{dalt[0]}{d1}_{dalt[-1]}{d2}dup"
            return ProteinChange(accession, f"p.({h})", s, "duplication", d1, d2, dalt, dalt + dalt)
        left, right = ref[p - 1], ref[p]
        h = f"{AA3[left]}{p}_{AA3[right]}{pos}ins{aa3(dalt)}"
        s = f"{left}{p}_{right}{pos}ins{dalt}"
        return ProteinChange(accession, f"p.({h})", s, "inframe_insertion", p, pos, "", dalt)
    if len(dref) == 1:
        h, s = f"{AA3[dref]}{pos}delins{aa3(dalt)}", f"{dref}{pos}delins{dalt}"
    else:
        h = f"{AA3[dref[0]]}{pos}_{AA3[dref[-1]]}{end}delins{aa3(dalt)}"
        s = f"{dref[0]}{pos}_{dref[-1]}{end}delins{dalt}"
    return ProteinChange(accession, f"p.({h})", s, "delins", pos, end, dref, dalt)


def _extension(accession: str, ref: str, alt: str, p: int) -> ProteinChange:
    pos = p + 1
    a = alt[p] if p < len(alt) else "X"
    stop = alt.find("*", p + 1)
    # HGVS counts the new stop from the first residue after the changed Ter
    ter = str(stop - p) if stop >= 0 else "?"
    return ProteinChange(
        accession, f"p.(Ter{pos}{AA3[a]}extTer{ter})", f"*{pos}{a}ext*{ter}", "stop_lost",
        pos, pos, "*", a,
    )  # fmt: skip


def synonymous(accession: str, aa: str, pos: int) -> ProteinChange:
    return ProteinChange(
        accession, f"p.({AA3[aa]}{pos}=)", f"{aa}{pos}=", "synonymous", pos, pos, aa, aa
    )


def unchanged(accession: str) -> ProteinChange:
    """The protein is predicted unchanged as a whole (an indel next to an intact start/stop)."""
    return ProteinChange(accession, "p.(=)", "=", "synonymous")


def unknown(accession: str, start: int | None = None) -> ProteinChange:
    return ProteinChange(accession, "p.?", "?", "unknown", start, start)


def format_c(accession: str, c1: str, c2: str | None, kind: str, ref: str, alt: str) -> str:
    """``NM_...:c.<pos><edit>``; ``ref``/``alt`` on the transcript strand."""
    rng = c1 if c2 is None or c2 == c1 else f"{c1}_{c2}"
    if kind == "sub":
        edit = f"{ref}>{alt}"
    elif kind == "del":
        edit = "del"
    elif kind == "dup":
        edit = "dup"
    elif kind == "ins":
        edit = f"ins{alt}"
    elif kind == "inv":
        edit = "inv"
    else:
        edit = f"delins{alt}"
    return f"{accession}:c.{rng}{edit}"
