"""A small reader for the subset of OTTL (the OpenTelemetry Transformation Language) our collector configs use.

No otelcol-contrib binary can be installed on the project's machines, so the configs' OTTL cannot be checked by
the collector itself. This module parses the conditions and statements with OTTL's grammar for that subset and
evaluates them on a span, so tests can check both that they are well formed and that they do what the comments
say. Anything outside the subset is a syntax error here, which keeps the configs to constructs whose meaning is
certain:

- paths: ``name``, ``attributes["key"]``, ``resource.attributes["key"]``;
- literals: strings in double quotes, integers, ``nil``, ``true``, ``false``;
- comparisons ``==`` and ``!=``; boolean ``and``, ``or``, ``not`` and parentheses (``not`` binds tightest, then
  ``and``, then ``or``, as in OTTL);
- statements: ``set(<path>, <path or literal>)`` with an optional ``where <condition>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

Value = str | int | float | bool | None

_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<int>-?\d+)
    | (?P<op>==|!=)
    | (?P<punct>[()\[\],.])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "where", "nil", "true", "false"}


class OttlSyntaxError(ValueError):
    """The text is not valid OTTL (within the subset this module reads)."""


@dataclass
class Span:
    """The parts of a span the subset can read or write."""

    name: str = ""
    attributes: dict[str, Value] = field(default_factory=dict)
    resource: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise OttlSyntaxError(f"unexpected character {text[pos:].lstrip()[:1]!r} at {pos} in {text!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


Getter = Callable[[Span], Value]
Predicate = Callable[[Span], bool]
Setter = Callable[[Span, Value], None]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def _peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _next(self) -> _Token:
        token = self._peek()
        if token is None:
            raise OttlSyntaxError(f"unexpected end of {self.text!r}")
        self.i += 1
        return token

    def _expect(self, text: str) -> None:
        token = self._next()
        if token.text != text:
            raise OttlSyntaxError(f"expected {text!r} at {token.pos}, found {token.text!r} in {self.text!r}")

    def _at(self, text: str) -> bool:
        token = self._peek()
        return token is not None and token.text == text and token.kind in ("word", "punct", "op")

    def done(self) -> None:
        token = self._peek()
        if token is not None:
            raise OttlSyntaxError(f"unexpected {token.text!r} at {token.pos} in {self.text!r}")

    # condition := and ('or' and)* ; and := not ('and' not)* ; not := 'not' not | primary
    def condition(self) -> Predicate:
        terms = [self._and()]
        while self._at("or"):
            self._next()
            terms.append(self._and())
        return terms[0] if len(terms) == 1 else (lambda span: any(t(span) for t in terms))

    def _and(self) -> Predicate:
        terms = [self._not()]
        while self._at("and"):
            self._next()
            terms.append(self._not())
        return terms[0] if len(terms) == 1 else (lambda span: all(t(span) for t in terms))

    def _not(self) -> Predicate:
        if self._at("not"):
            self._next()
            inner = self._not()
            return lambda span: not inner(span)
        return self._primary()

    def _primary(self) -> Predicate:
        if self._at("("):
            self._next()
            inner = self.condition()
            self._expect(")")
            return inner
        token = self._peek()
        if token is not None and token.text in ("true", "false") and token.kind == "word":
            self._next()
            result = token.text == "true"
            return lambda span: result
        left = self.value()
        op = self._next()
        if op.kind != "op":
            raise OttlSyntaxError(f"expected == or != at {op.pos}, found {op.text!r} in {self.text!r}")
        right = self.value()
        if op.text == "==":
            return lambda span: left(span) == right(span)
        return lambda span: left(span) != right(span)

    def value(self) -> Getter:
        token = self._next()
        if token.kind == "string":
            literal = bytes(token.text[1:-1], "utf-8").decode("unicode_escape")
            return lambda span: literal
        if token.kind == "int":
            number = int(token.text)
            return lambda span: number
        if token.kind == "word" and token.text in ("nil", "true", "false"):
            constant: Value = {"nil": None, "true": True, "false": False}[token.text]
            return lambda span: constant
        if token.kind == "word" and token.text not in _KEYWORDS:
            self.i -= 1
            return self.path()[0]
        raise OttlSyntaxError(f"expected a value at {token.pos}, found {token.text!r} in {self.text!r}")

    def path(self) -> tuple[Getter, Setter | None]:
        token = self._next()
        if token.text == "name":
            return (lambda span: span.name), None
        if token.text == "resource":
            self._expect(".")
            self._expect("attributes")
            key = self._key()
            return (lambda span: span.resource.get(key)), (lambda span, v: _put(span.resource, key, v))
        if token.text == "attributes":
            key = self._key()
            return (lambda span: span.attributes.get(key)), (lambda span, v: _put(span.attributes, key, v))
        raise OttlSyntaxError(f"unknown path {token.text!r} at {token.pos} in {self.text!r}")

    def _key(self) -> str:
        self._expect("[")
        token = self._next()
        if token.kind != "string":
            raise OttlSyntaxError(f"expected a quoted key at {token.pos} in {self.text!r}")
        self._expect("]")
        return token.text[1:-1]


def _put(target: dict[str, Value], key: str, value: Value) -> None:
    # OTTL's set() with a nil value leaves the attribute untouched.
    if value is not None:
        target[key] = value


def condition(text: str) -> Predicate:
    """Parse an OTTL condition; the result tells whether a span matches it."""
    parser = _Parser(text)
    predicate = parser.condition()
    parser.done()
    return predicate


def statement(text: str) -> Callable[[Span], None]:
    """Parse an OTTL ``set(...)`` statement (optionally ``where ...``); the result applies it to a span."""
    parser = _Parser(text)
    function = parser._next()
    if function.text != "set":
        raise OttlSyntaxError(f"only set() is supported here, found {function.text!r} in {text!r}")
    parser._expect("(")
    _, write = parser.path()
    if write is None:
        raise OttlSyntaxError(f"this subset only writes attributes, in {text!r}")
    parser._expect(",")
    read = parser.value()
    parser._expect(")")
    where: Predicate = lambda span: True  # noqa: E731 - a default predicate
    if parser._at("where"):
        parser._next()
        where = parser.condition()
    parser.done()

    def apply(span: Span) -> None:
        if where(span):
            assert write is not None
            write(span, read(span))

    return apply


def attribute_keys(text: str) -> set[str]:
    """Every ``attributes["..."]`` key an OTTL text names (span or resource)."""
    return set(re.findall(r'attributes\["((?:[^"\\]|\\.)*)"\]', text))
