"""Render the subset of Go's text/template that Katib v1alpha3 trial templates were written in.

Katib v1alpha3 experiments carry ``trialTemplate.goTemplate.rawTemplate``, which the Katib controller
rendered with Go's text/template.  Running those experiments locally must produce the same text, so the
constructs real templates used follow Go's semantics exactly, and everything else is refused with its
position rather than approximated: a template that renders differently here than in Go would silently
launch different trials.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GoTemplate", "GoTemplateError", "parse_go_template", "render_go_template"]

# Go's lexer (isSpace) and its trim markers recognise exactly these four characters, not Unicode spaces.
_SPACE = " \t\r\n"
_SUPPORTED = "only .Field, with, range, else, end and comments are supported"
# Go lexes `.1` as a number, so a field name may not start with a digit.
_FIELD_CHAIN = re.compile(r"\.|(?:\.[^\W\d]\w*)+")
# Go ends a keyword at any non-identifier rune, so `{{with.X}}` is as valid as `{{with .X}}`.
_BLOCK = re.compile(r"(with|range)(?!\w)(.*)", re.DOTALL)


class GoTemplateError(ValueError):
    """A template outside the supported subset, malformed, or not renderable with the given data."""


@dataclass
class _Tag:
    """One `{{...}}` as lexed, before the block structure is known."""

    kind: str  # "field", "with", "range", "else", "end" or "comment"
    src: str
    where: str
    ltrim: bool
    rtrim: bool
    chain: tuple[str, ...] = ()


@dataclass
class _Field:
    chain: tuple[str, ...]  # () is `.` itself
    src: str  # the whole action, so errors can quote what the user wrote
    where: str


@dataclass
class _Block:
    kind: str  # "with" or "range"
    pipe: _Field
    body: list[_Node] = field(default_factory=list)
    else_body: list[_Node] | None = None


_Node = str | _Field | _Block


def _where(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _is_space(ch: str) -> bool:
    # `"" in _SPACE` is True, so an explicit length check guards the end of the text.
    return len(ch) == 1 and ch in _SPACE


def _find_close(text: str, i: int) -> int:
    """Index of the `}}` ending the action whose body starts at i, or -1 if the action is unclosed."""
    # Quoted strings are skipped as Go's lexer does, so `{{"}}"}}` is reported whole as unsupported.
    quote = ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote != "`":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'`":
            quote = ch
        elif text.startswith("}}", i):
            return i
        elif text.startswith("{{", i):
            return -1  # `{` can never appear inside a Go action, so the earlier `{{` was left open
        i += 1
    return -1


def _lex_tag(text: str, start: int) -> tuple[_Tag, int]:
    where = _where(text, start)
    i = start + 2
    # Go needs whitespace after `{{-`; `{{-3}}` is the number -3, not a trim marker.
    ltrim = text[i : i + 1] == "-" and _is_space(text[i + 1 : i + 2])
    if ltrim:
        i += 2
    # Go only recognises a comment starting right at the delimiter (or trim marker) and ending right at
    # the closing one; its body may contain `}}`, so it is found before looking for the action's end.
    if text.startswith("/*", i):
        close = text.find("*/", i + 2)
        if close < 0:
            raise GoTemplateError(f"unclosed comment at {where}")
        j = close + 2
        rtrim = _is_space(text[j : j + 1]) and text.startswith("-}}", j + 1)
        if rtrim:
            j += 2
        if not text.startswith("}}", j):
            raise GoTemplateError(f"comment ends before closing delimiter at {where}")
        return _Tag("comment", text[start : j + 2], where, ltrim, rtrim), j + 2
    end = _find_close(text, i)
    if end < 0:
        snippet = text[start:].split("\n", 1)[0][:40]
        raise GoTemplateError(f"unclosed action {snippet} at {where}: no matching }}}}")
    src = text[start : end + 2]
    body = text[i:end]
    rtrim = len(body) >= 2 and body[-1] == "-" and _is_space(body[-2])
    if rtrim:
        body = body[:-2]
    return _classify(body.strip(_SPACE), src, where, ltrim, rtrim), end + 2


def _parse_chain(expr: str, src: str, where: str) -> tuple[str, ...]:
    if not _FIELD_CHAIN.fullmatch(expr):
        raise GoTemplateError(f"unsupported Go template construct {src} at {where}: {_SUPPORTED}")
    return () if expr == "." else tuple(expr[1:].split("."))


def _classify(body: str, src: str, where: str, ltrim: bool, rtrim: bool) -> _Tag:
    if not body:
        raise GoTemplateError(f"empty action {src} at {where}: missing value for command")
    if body in ("else", "end"):
        return _Tag(body, src, where, ltrim, rtrim)
    block = _BLOCK.fullmatch(body)
    if block:
        pipe = block.group(2).strip(_SPACE)
        if not pipe:
            raise GoTemplateError(f"missing value for {block.group(1)} in {src} at {where}")
        return _Tag(block.group(1), src, where, ltrim, rtrim, _parse_chain(pipe, src, where))
    return _Tag("field", src, where, ltrim, rtrim, _parse_chain(body, src, where))


def _lex(text: str) -> list[str | _Tag]:
    """Texts and tags, alternating and starting and ending with a (possibly empty) text."""
    items: list[str | _Tag] = []
    pos = 0
    while (start := text.find("{{", pos)) >= 0:
        items.append(text[pos:start])
        tag, pos = _lex_tag(text, start)
        items.append(tag)
    items.append(text[pos:])
    # Trimming is lexical in Go: it strips whitespace next to the marker whatever the action does.
    for k in range(0, len(items), 2):
        chunk = items[k]
        assert isinstance(chunk, str)
        before, after = items[k - 1] if k else None, items[k + 1] if k + 1 < len(items) else None
        if isinstance(before, _Tag) and before.rtrim:
            chunk = chunk.lstrip(_SPACE)
        if isinstance(after, _Tag) and after.ltrim:
            chunk = chunk.rstrip(_SPACE)
        items[k] = chunk
    return items


def _build(items: list[str | _Tag]) -> list[_Node]:
    # bodies[-1] is where nodes go now: the innermost open block's body, or its else branch after {{else}}.
    bodies: list[list[_Node]] = [[]]
    open_blocks: list[_Block] = []
    for item in items:
        if isinstance(item, str):
            if item:
                bodies[-1].append(item)
            continue
        if item.kind in ("else", "end") and not open_blocks:
            raise GoTemplateError(f"unexpected {item.src} at {item.where}: no open with or range")
        if item.kind == "field":
            bodies[-1].append(_Field(item.chain, item.src, item.where))
        elif item.kind in ("with", "range"):
            block = _Block(item.kind, _Field(item.chain, item.src, item.where))
            bodies[-1].append(block)
            open_blocks.append(block)
            bodies.append(block.body)
        elif item.kind == "else":
            block = open_blocks[-1]
            if block.else_body is not None:
                where = f"{block.pipe.src} at {block.pipe.where}"
                raise GoTemplateError(f"second {item.src} at {item.where} for {where}")
            block.else_body = bodies[-1] = []
        elif item.kind == "end":
            open_blocks.pop()
            bodies.pop()
    if open_blocks:
        opener = open_blocks[-1].pipe
        raise GoTemplateError(f"missing {{{{end}}}} for {opener.src} at {opener.where}")
    return bodies[0]


def _sorted_keys(mapping: Mapping[Any, Any], node: _Field) -> list[Any]:
    # Go sorts map keys both when ranging and when printing; keys Python cannot order have no Go analogue.
    try:
        return sorted(mapping)
    except TypeError as exc:
        raise GoTemplateError(f"{node.src} at {node.where}: map keys cannot be ordered: {exc}") from exc


def _lookup(value: Any, node: _Field, k: int) -> Any:
    name = node.chain[k]
    path = "." + ".".join(node.chain[: k + 1])
    if isinstance(value, Mapping):
        if name in value:
            return value[name]
        found = "map with keys [" + ", ".join(str(key) for key in _sorted_keys(value, node)) + "]"
    elif value is None:
        found = "<nil>"
    # Builtin values have Python attributes (str.upper, int.real) that are not Go fields.
    elif isinstance(value, str | bytes | int | float | complex | Sequence | set | frozenset):
        found = type(value).__name__
    elif not name.startswith("_") and hasattr(value, name):
        attr = getattr(value, name)
        if callable(attr):
            raise GoTemplateError(f"{node.src} at {node.where}: {path} is a method; calls are not supported")
        return attr
    else:
        found = type(value).__name__
    raise GoTemplateError(f"{node.src} at {node.where}: field {path} not found in {found}")


def _evaluate(node: _Field, dot: Any) -> Any:
    value = dot
    for k in range(len(node.chain)):
        value = _lookup(value, node, k)
    return value


def _format(value: Any, node: _Field, top: bool = True) -> str:
    # text/template prints a nil result as "<no value>", while fmt prints nil inside a container as "<nil>".
    if value is None:
        return "<no value>" if top else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        pairs = (f"{_format(k, node, False)}:{_format(value[k], node, False)}" for k in _sorted_keys(value, node))
        return "map[" + " ".join(pairs) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(_format(v, node, False) for v in value) + "]"
    return str(value)


def _is_true(value: Any) -> bool:
    # Go's truth: zero numbers, false, nil and empty containers are empty; structs are always non-empty.
    if value is None:
        return False
    if isinstance(value, bool | int | float | complex | str | bytes | Mapping | Sequence | set | frozenset):
        return bool(value)
    return True


def _range_items(value: Any, node: _Field) -> list[Any]:
    if value is None:
        return []  # Go skips an invalid (nil) value and runs {{else}}
    if isinstance(value, Mapping):
        return [value[k] for k in _sorted_keys(value, node)]
    if isinstance(value, list | tuple):
        return list(value)
    raise GoTemplateError(f"{node.src} at {node.where}: range can't iterate over {_format(value, node)}")


class _Output:
    """The rendered text, bounded: a ``range`` repeats its body per element, so nested ranges over a few
    hyperparameters could render gigabytes from a small template."""

    def __init__(self, limit: int | None) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit

    def append(self, text: str) -> None:
        self.size += len(text)
        if self.limit is not None and self.size > self.limit:
            raise GoTemplateError(f"the rendered template exceeds {self.limit:,} characters")
        self.parts.append(text)


def _execute(nodes: list[_Node], dot: Any, out: _Output) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Field):
            out.append(_format(_evaluate(node, dot), node))
        else:
            value = _evaluate(node.pipe, dot)
            # Both with and range run {{else}} with the enclosing dot, not the empty value.
            if node.kind == "with":
                if _is_true(value):
                    _execute(node.body, value, out)
                elif node.else_body is not None:
                    _execute(node.else_body, dot, out)
                continue
            elements = _range_items(value, node.pipe)
            for element in elements:
                _execute(node.body, element, out)
            if not elements and node.else_body is not None:
                _execute(node.else_body, dot, out)


class GoTemplate:
    """A parsed template: parse once when validating an experiment, render once per trial."""

    def __init__(self, source: str, nodes: list[_Node]) -> None:
        self.source = source
        self._nodes = nodes

    def render(self, data: Mapping[str, Any], *, limit: int | None = None) -> str:
        """The text for ``data``; GoTemplateError once it would exceed ``limit`` characters."""
        out = _Output(limit)
        _execute(self._nodes, data, out)
        return "".join(out.parts)


def parse_go_template(text: str) -> GoTemplate:
    """Parse text, raising GoTemplateError for anything outside the supported subset."""
    return GoTemplate(text, _build(_lex(text)))


def render_go_template(text: str, data: Mapping[str, Any], *, limit: int | None = None) -> str:
    return parse_go_template(text).render(data, limit=limit)
