"""The demo market's invented tickers and company names.

A symbol's index maps to a ticker of two to four letters by an invertible
mixing of its digits, so a ticker is read back to its index
(:func:`ticker_index`) without a table; names are drawn from the prefixes and
suffixes below.
"""

from __future__ import annotations

__all__ = ["NAME_PREFIXES", "NAME_SUFFIXES", "ticker", "ticker_index"]


NAME_PREFIXES: tuple[str, ...] = (
    "Northwind", "Bluefield", "Ironbridge", "Silverline", "Stonegate", "Clearwater", "Brightpath",
    "Harborview", "Lakeshore", "Maplewood", "Oakridge", "Pinecrest", "Riverbend", "Sandstone",
    "Westbrook", "Eastgate", "Southport", "Crestview", "Fairhaven", "Goldleaf", "Larkspur",
    "Nimbus", "Quarrystone", "Ravenwood", "Tidewater", "Upland", "Willowmere", "Zephyr",
    "Cobaltine", "Driftwood", "Emberlight", "Glacierpoint", "Indigo", "Juniper", "Kestrel",
    "Lumenfield", "Obsidian", "Quillon", "Radiant", "Topaz", "Verdant", "Whitestone", "Yarrow",
    "Alderbrook", "Birchwood", "Cedarline", "Dunmore", "Elmhurst", "Fernhill", "Grovewell",
    "Heronsgate", "Jasperton", "Kiteview", "Lindenhall", "Mesaverde", "Onyxbay", "Ashcombe",
    "Brambleton", "Copperfield", "Deepwater", "Foxglove", "Greywater", "Hawthorne", "Ivoryton",
    "Kingsmere", "Larchmont", "Moonstone", "Norcastle", "Oldmill", "Pebblebrook", "Quailridge",
    "Rosemount", "Saltmarsh", "Thornbury", "Valemont", "Wrenfield", "Amberly", "Bellhaven",
)  # fmt: skip


NAME_SUFFIXES: tuple[str, ...] = (
    "Corp", "Inc", "Holdings", "Group", "Co", "Ltd", "Partners", "International",
)  # fmt: skip


# Tickers: odd indices get 3 letters, even indices 4 letters; each index is
# scrambled by an invertible mixing so that neighbouring indices look unrelated.
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


_TICKER_MIX: dict[int, tuple[int, int, int, int]] = {
    # length: (multiplier 1, offset 1, multiplier 2, offset 2); multipliers are
    # coprime with 26**length so each affine step is a bijection.
    3: (7919, 4831, 5003, 911),
    4: (104729, 271828, 86969, 31415),
}


# --------------------------------------------------------------------------- tickers
def _to_digits(value: int, length: int) -> list[int]:
    digits = []
    for _ in range(length):
        value, digit = divmod(value, 26)
        digits.append(digit)
    return digits[::-1]


def _from_digits(digits: list[int]) -> int:
    value = 0
    for digit in digits:
        value = value * 26 + digit
    return value


def _chain(digits: list[int]) -> list[int]:
    out = list(digits)
    for j in range(1, len(out)):
        out[j] = (out[j] + out[j - 1]) % 26
    return out


def _unchain(digits: list[int]) -> list[int]:
    return [digits[0]] + [(digits[j] - digits[j - 1]) % 26 for j in range(1, len(digits))]


def ticker(index: int) -> str:
    """The ticker of symbol ``index`` (independent of the market size and seed)."""
    length = 3 if index % 2 else 4
    size = 26**length
    a1, b1, a2, b2 = _TICKER_MIX[length]
    value = (a1 * (index // 2) + b1) % size
    value = _from_digits(_chain(_to_digits(value, length)))
    value = (a2 * value + b2) % size
    return "".join(_LETTERS[d] for d in _chain(_to_digits(value, length)))


def ticker_index(symbol: str) -> int | None:
    """The inverse of :func:`ticker`, or None when ``symbol`` is not a demo ticker."""
    length = len(symbol)
    if length not in _TICKER_MIX or not all("A" <= c <= "Z" for c in symbol):
        return None
    size = 26**length
    a1, b1, a2, b2 = _TICKER_MIX[length]
    value = _from_digits(_unchain([ord(c) - 65 for c in symbol]))
    value = (pow(a2, -1, size) * (value - b2)) % size
    value = _from_digits(_unchain(_to_digits(value, length)))
    half = (pow(a1, -1, size) * (value - b1)) % size
    return 2 * half + (1 if length == 3 else 0)
