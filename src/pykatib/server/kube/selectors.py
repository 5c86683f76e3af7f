"""Label and field selectors, as ``?labelSelector=`` and ``?fieldSelector=`` carry them (``kubectl get -l``,
``kubectl wait`` asking for ``metadata.name=NAME``, ``kubectl describe`` asking for an object's events).

The syntax and matching are Kubernetes' (k8s.io/apimachinery/pkg/labels and pkg/fields): requirements
separated by commas, all of which must hold; an empty selector selects everything. A selector that does not
parse is a 400 BadRequest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pykatib.server.kube.errors import bad_request

# Label keys and values (k8s.io/apimachinery/pkg/util/validation).
_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

# Characters that end an identifier in a label selector.
_SPECIAL = frozenset(" \t\n\r!=(),<>")


@dataclass(frozen=True)
class LabelRequirement:
    """One requirement: ``key``, an operator of ``in``, ``notin``, ``=``, ``!=``, ``exists``, ``!`` (does not
    exist), ``gt``, ``lt`` ("==" is stored as "="), and its values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator in ("=", "in"):
            return present and labels[self.key] in self.values
        if self.operator in ("!=", "notin"):
            return not present or labels[self.key] not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        # gt, lt: the label must hold an integer.
        if not present:
            return False
        try:
            number = int(labels[self.key])
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if self.operator == "gt" else number < bound


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: ``LabelSelector.parse("app=a,tier in (x,y),!canary")``."""

    requirements: tuple[LabelRequirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse ``text``; raises a 400 KubeError naming what is wrong. Empty or None: selects everything."""
        if not text or not text.strip():
            return cls()
        return cls(tuple(_LabelParser(text).parse()))

    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        found = labels or {}
        return all(requirement.matches(found) for requirement in self.requirements)

    def matches_object(self, obj: Mapping[str, Any]) -> bool:
        """Whether an object's ``metadata.labels`` match."""
        metadata = obj.get("metadata")
        labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
        return self.matches(labels if isinstance(labels, Mapping) else {})


class _LabelParser:
    """A recursive-descent parser over the tokens of Kubernetes' label selector lexer."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _label_tokens(text)
        self.position = 0

    def fail(self, detail: str) -> Exception:
        return bad_request(f'unable to parse label selector "{self.text}": {detail}')

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def next(self) -> str | None:
        token = self.peek()
        self.position += 1
        return token

    def parse(self) -> list[LabelRequirement]:
        requirements = []
        while True:
            requirements.append(self.requirement())
            token = self.next()
            if token is None:
                return requirements
            if token != ",":
                raise self.fail(f"found '{token}', expected: ','")

    def identifier(self, after: str) -> str:
        token = self.next()
        if token is None or not _is_identifier(token):
            raise self.fail(f"found '{token or ''}', expected: identifier after {after}")
        return token

    def requirement(self) -> LabelRequirement:
        if self.peek() == "!":
            self.next()
            key = self.identifier("'!'")
            return LabelRequirement(_check_key(key, self), "!")
        key = self.identifier("the start of a requirement" if self.position == 0 else "','")
        _check_key(key, self)
        token = self.peek()
        if token is None or token == ",":
            return LabelRequirement(key, "exists")
        self.next()
        if token in ("=", "==", "!="):
            value = self.peek()
            if value is not None and _is_identifier(value):
                self.next()
            else:
                value = ""  # "a=" requires the empty value
            return LabelRequirement(key, "!=" if token == "!=" else "=", (_check_value(value, self),))
        if token in ("in", "notin"):
            return LabelRequirement(key, token, tuple(self.value_set(token)))
        if token in (">", "<"):
            value = self.identifier(f"'{token}'")
            try:
                int(value)
            except ValueError:
                raise self.fail(f"for '{token}', the value must be an integer, not '{value}'") from None
            return LabelRequirement(key, "gt" if token == ">" else "lt", (value,))
        raise self.fail(f"found '{token}', expected: in, notin, =, ==, !=, gt, lt")

    def value_set(self, operator: str) -> list[str]:
        if self.next() != "(":
            raise self.fail(f"expected '(' after '{operator}'")
        values: list[str] = []
        while True:
            token = self.peek()
            if token is not None and _is_identifier(token):
                self.next()
                values.append(_check_value(token, self))
                token = self.peek()
            else:
                values.append("")  # "(a,)" holds the empty value, as Kubernetes parses it
            self.next()
            if token == ")":
                break
            if token != ",":
                raise self.fail(f"found '{token or ''}', expected: ',', ')' or an identifier in the '{operator}' set")
        if values == [""]:
            raise self.fail(f"for '{operator}', the set of values must not be empty")
        return values


def _label_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif text.startswith(("==", "!="), i):
            tokens.append(text[i : i + 2])
            i += 2
        elif char in "!=(),<>":
            tokens.append(char)
            i += 1
        else:
            start = i
            while i < len(text) and text[i] not in _SPECIAL:
                i += 1
            tokens.append(text[start:i])
    return tokens


def _is_identifier(token: str) -> bool:
    return token not in ("!", "=", "==", "!=", "(", ")", ",", "<", ">")


def _check_key(key: str, parser: _LabelParser) -> str:
    prefix, slash, name = key.rpartition("/")
    problem = ""
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        problem = "its prefix must be a DNS subdomain (lower case letters, digits, '-' and '.')"
    elif not name or len(name) > 63 or not _NAME.fullmatch(name):
        problem = (
            "a name must be at most 63 characters of letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit"
        )
    if problem:
        raise parser.fail(f"invalid label key '{key}': {problem}")
    return key


def _check_value(value: str, parser: _LabelParser) -> str:
    if value and (len(value) > 63 or not _NAME.fullmatch(value)):
        raise parser.fail(
            f"invalid label value '{value}': a value must be empty or at most 63 characters of letters, digits, "
            "'-', '_' and '.', starting and ending with a letter or digit"
        )
    return value


# Field selectors ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    """``field`` (a dotted path such as ``metadata.name``) ``=`` or ``!=`` ``value``."""

    field: str
    operator: str  # "=" or "!="
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        found = field_value(obj, self.field)
        return found == self.value if self.operator == "=" else found != self.value


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: ``FieldSelector.parse("metadata.name=exp,status.phase!=Running")``."""

    requirements: tuple[FieldRequirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        """Parse ``text`` (``f=v``, ``f==v``, ``f!=v``, comma-separated; ``\\,``, ``\\=`` and ``\\\\`` escape
        within a value); raises a 400 KubeError for a term without an operator. Empty or None: everything."""
        if not text or not text.strip():
            return cls()
        requirements = []
        for term in _split_terms(text):
            if not term.strip():
                continue
            split = _split_term(term)
            if split is None:
                raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
            field, operator, value = split
            requirements.append(FieldRequirement(field.strip(), operator, _unescape(value.strip(), text)))
        return cls(tuple(requirements))

    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(requirement.matches(obj) for requirement in self.requirements)

    def equals(self, field: str) -> str | None:
        """The value ``field`` must equal (``field=value``), or None when the selector does not pin it."""
        for requirement in self.requirements:
            if requirement.field == field and requirement.operator == "=":
                return requirement.value
        return None

    def fields(self) -> set[str]:
        """The fields the selector names (for a server to refuse those it does not support)."""
        return {requirement.field for requirement in self.requirements}


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The value at a dotted ``path`` as a field selector compares it: text; "true"/"false"; a number's
    digits; "" when missing, null or not a scalar."""
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return ""
        value = value[part]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return ""


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not escaped with a backslash."""
    terms: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == ",":
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """(field, "=" or "!=", raw value) at the first unescaped operator; None when there is none."""
    i = 0
    while i < len(term):
        if term[i] == "\\":
            i += 2
            continue
        for operator in ("!=", "==", "="):
            if term.startswith(operator, i):
                return term[:i], "!=" if operator == "!=" else "=", term[i + len(operator) :]
        i += 1
    return None


def _unescape(value: str, text: str) -> str:
    result: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise bad_request(f"invalid selector: '{text}'; invalid escape sequence in '{value}'")
            result.append(value[i + 1])
            i += 2
            continue
        if char in ",=":
            raise bad_request(f"invalid selector: '{text}'; unescaped '{char}' in the value '{value}'")
        result.append(char)
        i += 1
    return "".join(result)
