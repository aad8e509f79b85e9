"""FACS action-unit strings as the databases' coders wrote them, parsed into action units.

The sheets spell AUs many ways: `4`, `AU4`, `A12` (SAMM's short prefix), `R12C` (side and
intensity), `15A+17`, `10A/B` (intensity between two letters), `4D+ref(6)+7C+43E` (a referred
AU), `(R6 or R12)+R15` (the coder's alternatives), `AU4(k)+L7` (4DME: k marks a static AU, not
part of the movement), `13?` (doubt), `R4,5` and `4，11` (comma and full-width comma lists),
`6 + 12` (spaces), `T28`, `B28` (top, both), `A/L12`, and single AUs read as numbers (`12`,
`12.0`). `parse_aus` keeps every AU it can read with its side, intensity and marks, and returns
what it could not read, so that the index reports it instead of dropping it silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SIDES = {"L": "left", "R": "right", "B": "both", "T": "top", "U": "unilateral"}
# an AU: optional "AU" / "A" / "A/" prefix, optional side letter, number, optional intensity
# A-E (or two, "A/B"), optional marks: "(k)" static, "?" doubt
_AU = re.compile(r"(?:AU|A/|A(?=[LRBTU]?\d))?(?P<side>[LRBTU])?(?P<number>\d{1,2})"
                 r"(?P<intensity>[A-E](?:/[A-E])?)?(?P<static>\(k\))?(?P<doubt>\?+)?",
                 re.IGNORECASE)
_REFERRED = re.compile(r"ref\((?P<inner>.*)\)", re.IGNORECASE)
_ALTERNATIVES = re.compile(r"\s+or\s+|/(?=\s*(?:AU|A)?[LRBTU]?\d)", re.IGNORECASE)


@dataclass(frozen=True)
class ActionUnit:
    """One coded AU. `uncertain`: the coder doubted it (`?`), gave it as one of alternatives
    (`6 or 12`) or referred to it (`ref(6)`); `static`: 4DME's `(k)`, present but not moving."""

    number: int
    side: str | None = None             # L, R, B, T, U as written (SIDES names them)
    intensity: str | None = None        # A..E, or "A/B"
    uncertain: bool = False
    static: bool = False

    def __str__(self) -> str:
        marks = ("(k)" if self.static else "") + ("?" if self.uncertain else "")
        return f"{self.side or ''}{self.number}{self.intensity or ''}{marks}"


@dataclass(frozen=True)
class ParsedAUs:
    text: str                           # the cell as read
    units: tuple[ActionUnit, ...]
    unparsed: tuple[str, ...]           # pieces that are not an AU, as written

    def numbers(self, static: bool = False) -> frozenset[int]:
        """The AU numbers, for class rules; static ones (4DME's `(k)`) only with `static`."""
        return frozenset(u.number for u in self.units if static or not u.static)


def _cell_text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float):
        return "" if cell != cell else (f"{cell:.0f}" if cell.is_integer() else str(cell))
    text = str(cell).strip()
    return "" if text.lower() in ("nan", "none", "/", "-") else text


def _one(piece: str, uncertain: bool) -> list[ActionUnit] | None:
    """An AU term (possibly `ref(..)`, `(a or b)`) -> its AUs, or None when it is not one."""
    piece = piece.strip()
    referred = _REFERRED.fullmatch(piece)
    if referred:
        return _one(referred.group("inner"), True)
    if piece.startswith("(") and piece.endswith(")"):
        return _one(piece[1:-1], uncertain)
    match = _AU.fullmatch(re.sub(r"\s+", "", piece))
    if not match:
        options = [p for p in _ALTERNATIVES.split(piece) if p.strip()]
        if len(options) < 2:
            return None
        found = [_one(p, True) for p in options]
        return None if any(f is None for f in found) else [u for f in found for u in f]
    side = match.group("side")
    intensity = match.group("intensity")
    return [ActionUnit(int(match.group("number")), side.upper() if side else None,
                       intensity.upper() if intensity else None,
                       uncertain or bool(match.group("doubt")), bool(match.group("static")))]


def parse_aus(cell: object) -> ParsedAUs:
    """An AU cell (text, or a number) -> its action units and the pieces that are none.

    '1+2+L4' -> 1, 2, L4; 'AU6+AU12' and 'A12' -> 6, 12 and 12; '(R6 or R12)+R15' -> R6?, R12?,
    R15; 'AU4(k)+L7' -> 4(k), L7; '4+ref(x)' -> 4, with 'ref(x)' unparsed."""
    text = _cell_text(cell)
    units: list[ActionUnit] = []
    unparsed: list[str] = []
    normalised = text.replace("，", ",").replace("＋", "+")
    depth, piece, pieces = 0, "", []
    for char in normalised:                         # split on + and , outside parentheses
        depth += (char == "(") - (char == ")")
        if char in "+," and depth == 0:
            pieces.append(piece)
            piece = ""
        else:
            piece += char
    pieces.append(piece)
    for piece in (p.strip() for p in pieces):
        if not piece:
            continue
        found = _one(piece, False)
        if found is None:
            unparsed.append(piece)
        else:
            units += found
    return ParsedAUs(text, tuple(units), tuple(unparsed))
