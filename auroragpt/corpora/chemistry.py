"""Chemistry: formulas, atom counts and molar masses of a few hundred compounds.

Compounds come from three sources: salts built from a table of ions (charges balanced, so
Ca(OH)2, Al2(SO4)3 and (NH4)3PO4 arise on their own), homologous series of organic molecules
(alkanes CnH2n+2, alkenes, alcohols, carboxylic acids) and a short list of common molecules.
Documents are lab-notebook pages that take each formula apart, add up the atomic weights of
`elements.ELEMENTS`, and state the results in three fixed forms:

    The molar mass of Ca(OH)2 is 74.09 g/mol.       (rounded half-up to 0.01 g/mol)
    One formula unit of Ca(OH)2 contains 5 atoms.
    The number of oxygen atoms in Ca(OH)2 is 2.

A held-out compound (hash of its formula) never appears in a document at all.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

from auroragpt.corpora.base import Fact, GeneratedCorpus
from auroragpt.corpora.elements import ELEMENTS, atomic_weight, element_name
from auroragpt.corpora.narrative import PEOPLE, count_noun, day_label, join_words, paragraphs

NAME = "chemistry"
_TOKEN = re.compile(r"[A-Z][a-z]?|\(|\)|\d+")


def parse_formula(formula: str) -> dict[str, int]:
    """Atoms per formula unit, in order of first appearance: "Ca(OH)2" -> {Ca: 1, O: 2, H: 2}.

    Supports nested parentheses with multipliers; raises ValueError naming the problem.
    """
    tokens = _TOKEN.findall(formula)
    if "".join(tokens) != formula or not tokens:
        raise ValueError(f"formula {formula!r}: only element symbols, digits and ( ) allowed")
    stack: list[dict[str, int]] = [{}]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        count = 1
        if i < len(tokens) and tokens[i].isdigit():
            count = int(tokens[i])
            i += 1
        if token == "(":
            if count != 1 or tokens[i - 1].isdigit():
                raise ValueError(f"formula {formula!r}: a number cannot follow '('")
            stack.append({})
        elif token == ")":
            if len(stack) == 1:
                raise ValueError(f"formula {formula!r}: unmatched ')'")
            group = stack.pop()
            for symbol, n in group.items():
                stack[-1][symbol] = stack[-1].get(symbol, 0) + n * count
        elif token.isdigit():
            raise ValueError(f"formula {formula!r}: number {token} does not follow an atom or ')'")
        else:
            if token not in ELEMENTS:
                raise ValueError(f"formula {formula!r}: unknown element {token!r}")
            stack[-1][token] = stack[-1].get(token, 0) + count
    if len(stack) != 1:
        raise ValueError(f"formula {formula!r}: unmatched '('")
    return stack[0]


def molar_mass(formula: str) -> Decimal:
    """Exact sum of the table's atomic weights (g/mol), before any rounding."""
    return sum((atomic_weight(s) * n for s, n in parse_formula(formula).items()), Decimal(0))


def rounded(value: Decimal, places: str = "0.01") -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


# ----------------------------------------------------------------------------------------------
# The compounds
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ion:
    name: str
    formula: str
    charge: int


CATIONS = (
    Ion("sodium", "Na", 1), Ion("potassium", "K", 1), Ion("lithium", "Li", 1),
    Ion("silver", "Ag", 1), Ion("ammonium", "NH4", 1), Ion("copper(I)", "Cu", 1),
    Ion("magnesium", "Mg", 2), Ion("calcium", "Ca", 2), Ion("barium", "Ba", 2),
    Ion("zinc", "Zn", 2), Ion("copper(II)", "Cu", 2), Ion("iron(II)", "Fe", 2),
    Ion("lead(II)", "Pb", 2), Ion("cobalt(II)", "Co", 2), Ion("nickel(II)", "Ni", 2),
    Ion("manganese(II)", "Mn", 2), Ion("tin(II)", "Sn", 2), Ion("mercury(II)", "Hg", 2),
    Ion("iron(III)", "Fe", 3), Ion("aluminium", "Al", 3), Ion("chromium(III)", "Cr", 3),
)
ANIONS = (
    Ion("chloride", "Cl", -1), Ion("bromide", "Br", -1), Ion("iodide", "I", -1),
    Ion("fluoride", "F", -1), Ion("hydroxide", "OH", -1), Ion("nitrate", "NO3", -1),
    Ion("nitrite", "NO2", -1), Ion("hydrogen carbonate", "HCO3", -1),
    Ion("hydrogen sulfate", "HSO4", -1), Ion("chlorate", "ClO3", -1),
    Ion("permanganate", "MnO4", -1), Ion("cyanide", "CN", -1), Ion("acetate", "CH3COO", -1),
    Ion("sulfate", "SO4", -2), Ion("sulfite", "SO3", -2), Ion("carbonate", "CO3", -2),
    Ion("chromate", "CrO4", -2), Ion("oxide", "O", -2), Ion("sulfide", "S", -2),
    Ion("phosphate", "PO4", -3),
)

MOLECULES = (
    ("H2O", "water"), ("CO2", "carbon dioxide"), ("CO", "carbon monoxide"),
    ("NH3", "ammonia"), ("H2O2", "hydrogen peroxide"), ("O2", "oxygen gas"),
    ("N2", "nitrogen gas"), ("O3", "ozone"), ("C6H12O6", "glucose"),
    ("C12H22O11", "sucrose"), ("H2SO4", "sulfuric acid"), ("HNO3", "nitric acid"),
    ("H3PO4", "phosphoric acid"), ("HCl", "hydrogen chloride"), ("NO2", "nitrogen dioxide"),
    ("SO2", "sulfur dioxide"), ("SiO2", "silicon dioxide"), ("C6H6", "benzene"),
    ("CO(NH2)2", "urea"), ("KMnO4", "potassium permanganate"), ("TiO2", "titanium dioxide"),
    ("CH3COCH3", "acetone"), ("C2H4(OH)2", "ethylene glycol"), ("C3H5(OH)3", "glycerol"),
)

_STEMS = ("meth", "eth", "prop", "but", "pent", "hex", "hept", "oct", "non", "dec")


@dataclass(frozen=True)
class Compound:
    formula: str
    name: str
    origin: str  # one sentence on how the formula is built

    @property
    def key(self) -> str:
        return self.formula

    @cached_property
    def atoms(self) -> dict[str, int]:
        return parse_formula(self.formula)

    @cached_property
    def exact_mass(self) -> Decimal:
        return molar_mass(self.formula)

    @property
    def mass_fact(self) -> Fact:
        return Fact(f"The molar mass of {self.formula} is", f" {rounded(self.exact_mass)} g/mol.")

    @property
    def atoms_fact(self) -> Fact:
        return Fact(f"One formula unit of {self.formula} contains",
                    f" {count_noun(sum(self.atoms.values()), 'atom')}.")

    def element_fact(self, symbol: str) -> Fact:
        return Fact(f"The number of {element_name(symbol)} atoms in {self.formula} is",
                    f" {self.atoms[symbol]}.")

    @cached_property
    def facts(self) -> tuple[Fact, ...]:
        return (self.mass_fact, self.atoms_fact, *map(self.element_fact, self.atoms))


def _group(formula: str, n: int) -> str:
    """`formula` taken n times: "OH", 2 -> "(OH)2"; "Cl", 2 -> "Cl2"; anything, 1 -> itself."""
    if n == 1:
        return formula
    single_atom = len(re.findall(r"[A-Z]", formula)) == 1 and not re.search(r"\d", formula)
    return f"{formula}{n}" if single_atom else f"({formula}){n}"


def salt(cation: Ion, anion: Ion) -> Compound:
    lcm = math.lcm(cation.charge, -anion.charge)
    n_cat, n_an = lcm // cation.charge, lcm // -anion.charge
    formula = _group(cation.formula, n_cat) + _group(anion.formula, n_an)
    name = f"{cation.name} {anion.name}"
    origin = (f"It pairs {cation.name} ions ({cation.formula}, charge +{cation.charge}) with "
              f"{anion.name} ions ({anion.formula}, charge {anion.charge}); "
              f"{n_cat} to {n_an} balances the charges.")
    return Compound(formula, name, origin)


def homologous_series() -> list[Compound]:
    compounds = []
    for n, stem in enumerate(_STEMS, start=1):
        compounds.append(Compound(
            _carbons(n, 2 * n + 2), f"{stem}ane",
            f"It is an alkane, a chain of {count_noun(n, 'carbon')}: CnH2n+2 with n = {n}."))
        if n >= 2:
            compounds.append(Compound(
                _carbons(n, 2 * n), f"{stem}ene",
                f"It is an alkene with one double bond: CnH2n with n = {n}."))
        if n <= 8:
            compounds.append(Compound(
                _carbons(n, 2 * n + 1) + "OH", f"{stem}anol",
                f"It is an alcohol: an alkyl group CnH2n+1 with n = {n} carrying OH."))
            acid = "HCOOH" if n == 1 else _carbons(n - 1, 2 * n - 1) + "COOH"
            compounds.append(Compound(
                acid, f"{stem}anoic acid",
                f"It is a carboxylic acid with {count_noun(n, 'carbon')}, ending in COOH."))
    return compounds


def _carbons(c: int, h: int) -> str:
    return ("C" if c == 1 else f"C{c}") + ("H" if h == 1 else f"H{h}")


def all_compounds() -> tuple[Compound, ...]:
    """Every compound the corpus knows, one per formula (first description wins)."""
    # NOTE: salts are every charge-balanced pairing of the ion tables; most are real
    # compounds, some would not survive in a jar. Ammonium oxide is left out as a name
    # chemists would find odd; the formulas and masses are right either way.
    candidates = [salt(c, a) for c in CATIONS for a in ANIONS
                  if (c.formula, a.formula) != ("NH4", "O")]
    candidates += homologous_series()
    candidates += [Compound(f, name, "It is a common molecular substance.") for f, name in MOLECULES]
    unique: dict[str, Compound] = {}
    for compound in candidates:
        unique.setdefault(compound.formula, compound)
    return tuple(unique.values())


# ----------------------------------------------------------------------------------------------
# Documents
# ----------------------------------------------------------------------------------------------

INTROS = (
    "Lab notebook of {p}, {day}.",
    "Chemistry practical, {day}. Notes by {p}.",
    "Stockroom check by {p} on {day}: formulas and molar masses.",
    "Preparation log, {day}. {p} weighed out each substance below.",
)

CLOSERS = (
    "Atomic weights were taken from the standard table.",
    "All masses are rounded to two decimal places.",
    "{p} labelled every jar with its formula and molar mass.",
)


class ChemistryCorpus(GeneratedCorpus[Compound]):
    name = NAME
    description = "chemical formulas: composition, atom counts and molar masses"

    def __init__(self) -> None:
        self.compounds = all_compounds()

    def sample_item(self, rng: random.Random) -> Compound:
        return rng.choice(self.compounds)

    def write_document(self, rng: random.Random, draw: Callable[..., Compound]) -> str:
        p = rng.choice(PEOPLE)
        fill = {"p": p, "day": day_label(rng)}
        compounds = [draw() for _ in range(rng.randint(2, 5))]
        if rng.random() < 0.25:
            lines = [line for c in compounds for line in (c.mass_fact.text, c.atoms_fact.text)]
            return paragraphs(f"Stockroom list, shelf {rng.choice('ABCDEFGH')}.", lines)
        blocks = [rng.choice(INTROS).format(**fill)]
        blocks += [_entry(rng, c) for c in compounds]
        blocks.append(rng.choice(CLOSERS).format(**fill))
        return paragraphs(*blocks)


def _entry(rng: random.Random, c: Compound) -> str:
    """One compound taken apart: origin, composition, the weighted sum, then the facts."""
    parts = [f"{n} {element_name(s)}" for s, n in c.atoms.items()]
    weights = ", ".join(f"{s} {atomic_weight(s)}" for s in c.atoms)
    terms = " + ".join(f"{atomic_weight(s)}" if n == 1 else f"{n} * {atomic_weight(s)}"
                       for s, n in c.atoms.items())
    moles = rng.choice((2, 3, 5, 10))
    lines = [
        f"{c.name[0].upper()}{c.name[1:]}, {c.formula}. {c.origin}",
        f"Each formula unit holds {join_words(parts)} atoms.",
        c.atoms_fact.text,
        *(c.element_fact(s).text for s in rng.sample(list(c.atoms), min(2, len(c.atoms)))),
        f"Atomic weights: {weights}.",
        f"Sum: {terms} = {c.exact_mass}.",
        c.mass_fact.text,
        f"So {moles} mol of {c.name} weighs {rounded(c.exact_mass * moles)} g.",
    ]
    return "\n".join(lines)
