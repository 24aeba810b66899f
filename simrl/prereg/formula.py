"""simrl's own grammar for the registered analysis model: parsed here, never evaluated.

statsmodels hands a formula string to patsy, which evaluates every name and call in it as
Python; a spec is data, so `analysis.model` is first parsed by this small grammar and only
its canonical rendering (built from the parse, not copied from the spec) reaches
statsmodels:

    formula := outcome "~" expr
    outcome := NAME | 'Q("' OUTCOME '")'        an outcome registered in [outcomes]
    expr    := term (("+" | "-") term)*
    term    := atom ((":" | "*") atom)*
    atom    := "C(" NAME ["," CODING] ")" | NAME | "0" | "1" | "(" expr ")"
    CODING  := "Sum" | "Treatment"

NAME is a factor of the study (or `seed`, the replicate column); `0` and `1` are the
intercept terms of Wilkinson-Rogers notation (Wilkinson & Rogers 1973, as patsy reads
it). Anything else is a ConfigError naming the offending token and its position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from simrl.errors import ConfigError

#: contrast codings a factor may be given in C(name, coding)
CODINGS = ("Sum", "Treatment")
#: the replicate column, usable as a (blocking) factor
SEED = "seed"
#: nesting and length bounds: a spec cannot make the parser recurse without limit
MAX_DEPTH, MAX_LENGTH = 16, 2000

_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>\d+(?:\.\d*)?)"
    r"|(?P<string>\"[^\"\\]*\"|'[^'\\]*')|(?P<op>[~+\-*:(),]))"
)
_OUTCOME_TEXT = re.compile(r"[A-Za-z0-9_@().,\- ]+")


@dataclass(frozen=True)
class Formula:
    """A parsed model: its outcome name and the right-hand side, rendered canonically."""

    outcome: str
    rhs: str
    names: tuple[str, ...]  # every factor (or seed) named on the right-hand side

    @property
    def lhs(self) -> str:
        return lhs(self.outcome)

    def text(self) -> str:
        return f"{self.lhs} ~ {self.rhs}"


def lhs(outcome: str) -> str:
    """How an outcome is written on the left: bare when an identifier, else Q("...")."""
    return outcome if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", outcome) else f'Q("{outcome}")'


def _bad(text: str, pos: int, what: str) -> ConfigError:
    return ConfigError("analysis.model", text, f"{what} at character {pos + 1}")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if not m or m.end() == pos:
            at = len(stripped) - len(stripped[pos:].lstrip())
            raise _bad(
                text,
                at,
                f"{stripped[at]!r} is not part of the model grammar (outcome ~ terms with "
                "factor names, C(x, Sum), + - * :, parentheses, 0 or 1)",
            )
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(("end", "", len(stripped)))
    return out


class _Parser:
    def __init__(self, text: str, names: tuple[str, ...]):
        self.text, self.allowed = text, names
        self.toks = _tokens(text)
        self.i = 0
        self.used: list[str] = []

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self, value: str | None = None, kind: str | None = None) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        if (value is not None and tok[1] != value) or (kind is not None and tok[0] != kind):
            want = repr(value) if value is not None else f"a {kind}"
            got = "the end of the formula" if tok[0] == "end" else repr(tok[1])
            raise _bad(self.text, tok[2], f"expected {want}, found {got}")
        self.i += 1
        return tok

    def name(self, tok: tuple[str, str, int]) -> str:
        if tok[1] not in self.allowed:
            raise _bad(
                self.text,
                tok[2],
                f"{tok[1]!r} is not a factor; factors: " + ", ".join(self.allowed),
            )
        self.used.append(tok[1])
        return tok[1]

    def formula(self) -> Formula:
        _kind, value, _pos = self.take(kind="name")
        if value == "Q" and self.peek()[1] == "(":
            self.take("(")
            s = self.take(kind="string")
            self.take(")")
            outcome = s[1][1:-1]
            if not _OUTCOME_TEXT.fullmatch(outcome):
                raise _bad(self.text, s[2], f"{outcome!r} is not an outcome name")
        else:
            outcome = value
        self.take("~")
        rhs = self.expr(0)
        self.take(kind="end")
        return Formula(outcome, rhs, tuple(dict.fromkeys(self.used)))

    def expr(self, depth: int) -> str:
        parts = [self.term(depth)]
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            parts += [op, self.term(depth)]
        return " ".join(parts)

    def term(self, depth: int) -> str:
        out = self.atom(depth)
        while self.peek()[1] in (":", "*"):
            op = self.take()[1]
            right = self.atom(depth)
            out = f"{out}:{right}" if op == ":" else f"{out} * {right}"
        return out

    def atom(self, depth: int) -> str:
        kind, value, pos = self.peek()
        if value == "(":
            if depth >= MAX_DEPTH:
                raise _bad(self.text, pos, f"parentheses nest deeper than {MAX_DEPTH}")
            self.take("(")
            inner = self.expr(depth + 1)
            self.take(")")
            return f"({inner})"
        if kind == "number":
            self.take()
            if value not in ("0", "1"):
                raise _bad(self.text, pos, f"the number {value} is not a term (only 0 or 1)")
            return value
        tok = self.take(kind="name")
        if tok[1] == "C" and self.peek()[1] == "(":
            self.take("(")
            name = self.name(self.take(kind="name"))
            coding = ""
            if self.peek()[1] == ",":
                self.take(",")
                c = self.take(kind="name")
                if c[1] not in CODINGS:
                    raise _bad(
                        self.text, c[2], f"coding {c[1]!r}: must be one of " + ", ".join(CODINGS)
                    )
                coding = f", {c[1]}"
            self.take(")")
            return f"C({name}{coding})"
        return self.name(tok)


def parse(text: object, factors: tuple[str, ...]) -> Formula:
    """Parse `analysis.model` against the study's factor names; ConfigError on anything
    outside the grammar."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("analysis.model", text, "must be a formula 'outcome ~ terms'")
    if len(text) > MAX_LENGTH:
        raise ConfigError("analysis.model", text[:40] + "...", f"is longer than {MAX_LENGTH}")
    if "~" not in text:
        raise ConfigError("analysis.model", text, "must be a formula 'outcome ~ terms'")
    return _Parser(text, (*factors, SEED)).formula()


def outcome_of(text: str) -> str:
    """The outcome on the left of a formula, without checking the right: 'acc ~ ...' or
    'Q("acc@50") ~ ...'."""
    left = text.partition("~")[0].strip()
    m = re.fullmatch(r"Q\(\s*[\"'](.+)[\"']\s*\)", left)
    return m.group(1) if m else left


def with_outcome(f: Formula, outcome: str) -> str:
    """The same right-hand side with another outcome on the left (an anova hypothesis on
    another outcome than the model's)."""
    return f"{lhs(outcome)} ~ {f.rhs}"
