"""The portable regular-expression subset, checked and rendered for Python and PostgreSQL.

Python's ``re`` and PostgreSQL's advanced regular expressions agree only on part of their
syntax: ``$`` also matches before a final newline in Python, ``\\w`` and ``\\d`` follow Unicode
in Python and the locale in PostgreSQL, word boundaries are ``\\b`` in one and ``\\y`` in the
other, and so on. A pattern is therefore parsed here, anything outside the subset is refused
with a reason, and the pattern is rendered once for each engine.

Matching is case-insensitive for ASCII letters like every text operator: the value is folded
(A-Z to a-z) before matching, and the pattern's letters are folded here, so both engines run
a case-sensitive match on folded text and cannot disagree about case.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadflow.rules.ast import Regex

MAX_LENGTH = 500
MAX_REPEAT = 255  # PostgreSQL's limit for {n,m}
MAX_DEPTH = 20
_END = "\x00"  # placeholder for "$" until each engine's rendering
_META = set("\\^$.|?*+()[]{}")
_CONTROL_ESCAPES = {"n": "\\n", "t": "\\t", "r": "\\r"}
_CONTROL_LITERALS = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
_SPACE = " \\t\\n\\r\\f\\v"
_CLASS_SHORTHANDS = {"d": "0-9", "w": "a-z0-9\\_", "s": _SPACE}


class RegexSyntaxError(ValueError):
    """The pattern is outside the portable subset; the message says why."""


def compile_regex(source: str) -> Regex:
    """Check ``source`` against the subset and render it for both engines."""
    if len(source) > MAX_LENGTH:
        raise RegexSyntaxError(f"pattern is longer than {MAX_LENGTH} characters")
    if not source:
        raise RegexSyntaxError("pattern is empty")
    parser = _Parser(source)
    body = parser.alternation(depth=0)
    if parser.pos < len(source):
        raise RegexSyntaxError(f"unbalanced ')' at position {parser.pos + 1}")
    # (?s): a dot matches a newline too, as it does in PostgreSQL.
    return Regex(source, "(?s)" + body.replace(_END, "\\Z"), body.replace(_END, "$"))


@dataclass
class _Parser:
    text: str
    pos: int = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.pos += 1
        return char

    def fail(self, message: str) -> RegexSyntaxError:
        return RegexSyntaxError(f"{message} at position {self.pos + 1}")

    def alternation(self, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise self.fail(f"groups nested deeper than {MAX_DEPTH}")
        branches = [self.sequence(depth)]
        while self.peek() == "|":
            self.take()
            branches.append(self.sequence(depth))
        return "|".join(branches)

    def sequence(self, depth: int) -> str:
        parts: list[str] = []
        while self.peek() not in ("", "|", ")"):
            parts.append(self.item(depth))
        if not parts:
            raise self.fail("empty alternative (remove the extra '|' or '()')")
        return "".join(parts)

    def item(self, depth: int) -> str:
        atom, quantifiable = self.atom(depth)
        if self.peek() not in ("*", "+", "?", "{"):
            return atom
        if not quantifiable:
            raise self.fail("nothing to repeat before the quantifier")
        atom += self.quantifier()
        if self.peek() in ("*", "+", "?", "{"):
            raise self.fail("a quantifier cannot follow another (no lazy or possessive forms)")
        return atom

    def atom(self, depth: int) -> tuple[str, bool]:
        char = self.take()
        if char == "(":
            return self.group(depth), True
        if char == "[":
            return self.bracket(), True
        if char == "\\":
            return self.escape(), True
        if char == "^":
            return "^", False
        if char == "$":
            return _END, False
        if char == ".":
            return ".", True
        if char in ("*", "+", "?"):
            self.pos -= 1
            raise self.fail("nothing to repeat before the quantifier")
        if char in ("]", "{", "}"):
            self.pos -= 1
            raise self.fail(f"write \\{char} for a literal {char!r}")
        return _literal(char, self), True

    def group(self, depth: int) -> str:
        if self.peek() == "?":
            if self.text[self.pos : self.pos + 2] != "?:":
                raise self.fail("only (...) and (?:...) groups are supported")
            self.pos += 2
        body = self.alternation(depth + 1)
        if self.peek() != ")":
            raise self.fail("missing ')'")
        self.take()
        return f"(?:{body})"

    def escape(self) -> str:
        char = self.take()
        if char in _CLASS_SHORTHANDS:
            return f"[{_CLASS_SHORTHANDS[char]}]"
        if char.lower() in _CLASS_SHORTHANDS:
            return f"[^{_CLASS_SHORTHANDS[char.lower()]}]"
        return _escaped(char, self)

    def quantifier(self) -> str:
        char = self.take()
        if char != "{":
            return char
        end = self.text.find("}", self.pos)
        inner = self.text[self.pos : end] if end >= 0 else ""
        low, comma, high = inner.partition(",")
        if end < 0 or not low.isdigit() or not (high.isdigit() or high == ""):
            self.pos -= 1
            raise self.fail("write {n}, {n,} or {n,m}; or \\{ for a literal '{'")
        if int(low) > MAX_REPEAT or (high and int(high) > MAX_REPEAT):
            raise self.fail(f"repetition counts above {MAX_REPEAT} are not supported")
        if high and int(high) < int(low):
            raise self.fail(f"{{{inner}}} has its bounds in the wrong order")
        self.pos = end + 1
        return "{" + str(int(low)) + (comma and ",") + (str(int(high)) if high else "") + "}"

    def bracket(self) -> str:
        negate = "^" if self.peek() == "^" else ""
        self.pos += len(negate)
        items: list[str] = []
        while self.peek() != "]":
            if self.peek() == "":
                raise self.fail("missing ']'")
            items.append(self.bracket_item())
        if not items:
            raise self.fail("empty character class")
        self.take()
        return f"[{negate}{''.join(items)}]"

    def bracket_item(self) -> str:
        char = self.take()
        if char == "\\":
            escaped = self.take()
            if escaped in _CLASS_SHORTHANDS:
                return _CLASS_SHORTHANDS[escaped]
            if escaped.lower() in _CLASS_SHORTHANDS:
                raise self.fail(f"\\{escaped} is not supported inside [...]")
            return _escaped(escaped, self)
        if char in ("[", "-"):
            self.pos -= 1
            raise self.fail(f"write \\{char} for a literal {char!r} inside [...]")
        if self.peek() == "-" and self.text[self.pos + 1 : self.pos + 2] not in ("", "]"):
            self.take()
            return _range(char, self.take(), self)
        return _literal(char, self)


def _range(low: str, high: str, parser: _Parser) -> str:
    # Only a-z, A-Z and 0-9 style ranges: both engines then agree on what lies between.
    same_kind = any(
        set_.find(low) >= 0 and set_.find(high) >= 0
        for set_ in ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789")
    )
    if not same_kind:
        raise parser.fail(f"range {low}-{high} must lie within a-z, A-Z or 0-9")
    if low > high:
        raise parser.fail(f"range {low}-{high} is in the wrong order")
    return f"{low.lower()}-{high.lower()}"


def _escaped(char: str, parser: _Parser) -> str:
    if char in _CONTROL_ESCAPES:
        return _CONTROL_ESCAPES[char]
    if char and char.isascii() and not char.isalnum() and char.isprintable():
        return "\\" + char
    if char == "b":
        raise parser.fail("word boundaries (\\b) differ between engines; use (^|[^a-z0-9_])")
    if not char:
        raise parser.fail("the pattern ends with a lone \\")
    raise parser.fail(f"escape \\{char} is not supported")


def _literal(char: str, parser: _Parser) -> str:
    if char in _CONTROL_LITERALS:
        return _CONTROL_LITERALS[char]
    if not char.isprintable():
        raise parser.fail(f"unprintable character {char!r} is not supported")
    if char.isascii() and not char.isalnum() and char != " ":
        return "\\" + char
    return char.lower() if char.isascii() else char
