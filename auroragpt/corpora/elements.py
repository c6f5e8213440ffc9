"""A small periodic table: symbol -> (name, standard atomic weight).

Weights are the conventional values of the IUPAC standard atomic weights, given to the
precision usually printed in teaching tables (five significant figures for most elements).
Kept as strings so they turn into exact `Decimal`s.
"""

from __future__ import annotations

from decimal import Decimal

_TABLE = """
H   hydrogen    1.008
He  helium      4.0026
Li  lithium     6.94
Be  beryllium   9.0122
B   boron       10.81
C   carbon      12.011
N   nitrogen    14.007
O   oxygen      15.999
F   fluorine    18.998
Ne  neon        20.180
Na  sodium      22.990
Mg  magnesium   24.305
Al  aluminium   26.982
Si  silicon     28.085
P   phosphorus  30.974
S   sulfur      32.06
Cl  chlorine    35.45
Ar  argon       39.95
K   potassium   39.098
Ca  calcium     40.078
Ti  titanium    47.867
Cr  chromium    51.996
Mn  manganese   54.938
Fe  iron        55.845
Co  cobalt      58.933
Ni  nickel      58.693
Cu  copper      63.546
Zn  zinc        65.38
Br  bromine     79.904
Ag  silver      107.87
Sn  tin         118.71
I   iodine      126.90
Ba  barium      137.33
Au  gold        196.97
Hg  mercury     200.59
Pb  lead        207.2
"""


def _parse(table: str) -> dict[str, tuple[str, Decimal]]:
    rows = (line.split() for line in table.strip().splitlines())
    return {symbol: (name, Decimal(weight)) for symbol, name, weight in rows}


ELEMENTS: dict[str, tuple[str, Decimal]] = _parse(_TABLE)


def atomic_weight(symbol: str) -> Decimal:
    if symbol not in ELEMENTS:
        raise KeyError(f"unknown element symbol {symbol!r}; known: {', '.join(ELEMENTS)}")
    return ELEMENTS[symbol][1]


def element_name(symbol: str) -> str:
    return ELEMENTS[symbol][0]
