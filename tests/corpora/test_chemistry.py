"""Chemistry corpus: formulas re-counted and molar masses re-summed with the test's own
parser (string expansion of parentheses) and its own table of standard atomic weights."""

from __future__ import annotations

import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import pytest

from auroragpt.corpora import get_corpus
from auroragpt.corpora.chemistry import molar_mass, parse_formula

WEIGHTS = {  # IUPAC conventional standard atomic weights (abridged), g/mol
    "H": "1.008", "Li": "6.94", "B": "10.81", "C": "12.011", "N": "14.007", "O": "15.999",
    "F": "18.998", "Na": "22.990", "Mg": "24.305", "Al": "26.982", "Si": "28.085",
    "P": "30.974", "S": "32.06", "Cl": "35.45", "K": "39.098", "Ca": "40.078", "Ti": "47.867",
    "Cr": "51.996", "Mn": "54.938", "Fe": "55.845", "Co": "58.933", "Ni": "58.693",
    "Cu": "63.546", "Zn": "65.38", "Br": "79.904", "Ag": "107.87", "Sn": "118.71",
    "I": "126.90", "Ba": "137.33", "Hg": "200.59", "Pb": "207.2",
}
NAMES = {
    "hydrogen": "H", "lithium": "Li", "carbon": "C", "nitrogen": "N", "oxygen": "O",
    "fluorine": "F", "sodium": "Na", "magnesium": "Mg", "aluminium": "Al", "silicon": "Si",
    "phosphorus": "P", "sulfur": "S", "chlorine": "Cl", "potassium": "K", "calcium": "Ca",
    "titanium": "Ti", "chromium": "Cr", "manganese": "Mn", "iron": "Fe", "cobalt": "Co",
    "nickel": "Ni", "copper": "Cu", "zinc": "Zn", "bromine": "Br", "silver": "Ag", "tin": "Sn",
    "iodine": "I", "barium": "Ba", "mercury": "Hg", "lead": "Pb",
}
FORMULA = r"[A-Z][A-Za-z0-9()]*"
MASS = re.compile(rf"The molar mass of ({FORMULA}) is ([\d.]+) g/mol\.")
ATOMS = re.compile(rf"One formula unit of ({FORMULA}) contains (\d+) atoms?\.")
ELEMENT = re.compile(rf"The number of ([a-z]+) atoms in ({FORMULA}) is (\d+)\.")


def count_atoms(formula: str) -> Counter:
    """Expand innermost "(group)n" into n copies until no parentheses remain, then count."""
    inner = re.compile(r"\(([^()]*)\)(\d*)")
    while "(" in formula:
        formula = inner.sub(lambda m: m.group(1) * int(m.group(2) or 1), formula)
    counts: Counter = Counter()
    for symbol, n in re.findall(r"([A-Z][a-z]?)(\d*)", formula):
        counts[symbol] += int(n or 1)
    return counts


def reference_mass(formula: str) -> Decimal:
    total = sum(Decimal(WEIGHTS[s]) * n for s, n in count_atoms(formula).items())
    return total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def check_text(text: str) -> int:
    checked = 0
    for formula, mass in MASS.findall(text):
        assert Decimal(mass) == reference_mass(formula), formula
        checked += 1
    for formula, atoms in ATOMS.findall(text):
        assert int(atoms) == sum(count_atoms(formula).values()), formula
        checked += 1
    for name, formula, n in ELEMENT.findall(text):
        assert int(n) == count_atoms(formula)[NAMES[name]], (name, formula)
        checked += 1
    return checked


def test_textbook_molar_masses():
    expected = {"H2O": "18.02", "CO2": "44.01", "NaCl": "58.44", "C6H12O6": "180.16",
                "Ca(OH)2": "74.09", "KMnO4": "158.03", "CaCO3": "100.09", "Al2O3": "101.96",
                "(NH4)3PO4": "149.09"}
    for formula, mass in expected.items():
        assert molar_mass(formula).quantize(Decimal("0.01"), ROUND_HALF_UP) == Decimal(mass)


def test_parser_agrees_with_expansion_and_rejects_bad_formulas():
    for formula in ("Ca(OH)2", "Al2(SO4)3", "(NH4)3PO4", "K4(Fe(CN)6)", "C2H4(OH)2", "H"):
        assert parse_formula(formula) == dict(count_atoms(formula))
    for bad, why in [("Xy2", "unknown element"), ("Ca(OH", "unmatched '\\('"),
                     ("H2)O", "unmatched '\\)'"), ("2H", "does not follow"), ("H2-O", "only"),
                     ("(2H)", "cannot follow")]:
        with pytest.raises(ValueError, match=why):
            parse_formula(bad)


def test_every_fact_in_documents_is_right():
    text = "".join(get_corpus("chemistry").documents(seed=0, max_chars=300_000))
    assert check_text(text) > 1_000
    formulas = set(MASS.findall(text))
    assert any("(" in f for f, _ in formulas)  # parentheses are exercised


def test_worked_sums_in_documents_are_right():
    text = "".join(get_corpus("chemistry").documents(seed=1, max_chars=200_000))
    sums = re.findall(r"Atomic weights: ([^\n]+)\.\nSum: ([^\n]+) = ([\d.]+)\.", text)
    assert len(sums) > 100
    for weights, terms, total in sums:
        for symbol, weight in (w.split() for w in weights.split(", ")):
            assert weight == WEIGHTS[symbol]
        value = sum(Decimal(a) * Decimal(b) if "*" in t else Decimal(t)
                    for t in terms.split(" + ") for a, _, b in [t.partition(" * ")])
        assert value == Decimal(total)


def test_probe_answers_are_right_and_cover_all_kinds():
    probes = get_corpus("chemistry").probes(150, seed=0)
    assert check_text("\n".join(p.prompt + p.answer for p in probes)) == 150
    kinds = Counter(p.prompt.split()[1] for p in probes)  # molar / formula / number
    assert set(kinds) == {"molar", "formula", "number"}
