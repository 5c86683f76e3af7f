"""Where each field of a YAML document is written: the editor shows a validation error (named by its field
path, ``spec.parameters[1].feasibleSpace.max``) beside its line. The text is only composed into nodes, never
built into objects, and each node is visited once (aliases are not expanded)."""

from __future__ import annotations

from typing import Any

import yaml

MAX_MARKS = 20_000


def marks(text: str) -> dict[str, Any]:
    """``{"documents": n, "apiVersion", "kind", "name", "namespace", "marks": {path: line}, "error"}`` for the
    first document of ``text``; lines count from 1; ``error`` (a syntax error: line, column, message, and the
    line where the construct it broke began) or None."""
    answer: dict[str, Any] = {"documents": 0, "apiVersion": None, "kind": None, "name": None, "namespace": None,
                              "marks": {}, "error": None}  # fmt: skip
    loader = yaml.SafeLoader(text)
    try:
        nodes = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = exc.context_mark if exc.context and exc.problem_mark else None
        answer["error"] = {
            "line": mark.line + 1 if mark else 1,
            "column": mark.column + 1 if mark else 1,
            "message": str(exc.problem or exc.context),
            # where what failed began ("while parsing a flow sequence"): an unclosed bracket, an open quote
            "context": str(exc.context) if context else None,
            "contextLine": context.line + 1 if context else None,
        }
        return answer
    except yaml.YAMLError as exc:
        answer["error"] = {"line": 1, "column": 1, "message": str(exc)}
        return answer
    finally:
        loader.dispose()
    answer["documents"] = len(nodes)
    if not nodes:
        return answer
    found: dict[str, int] = {}
    _walk(nodes[0], "", found, set())
    answer["marks"] = found
    for key in ("apiVersion", "kind", "metadata.name", "metadata.namespace"):
        value = _scalar(nodes[0], key.split("."))
        answer[key.rpartition(".")[2]] = value
    return answer


def _walk(node: yaml.Node, path: str, found: dict[str, int], seen: set[int]) -> None:
    if id(node) in seen or len(found) >= MAX_MARKS:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            child = f"{path}.{name}" if path else name
            found.setdefault(child, key.start_mark.line + 1)
            _walk(value, child, found, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{path}[{index}]"
            found.setdefault(child, item.start_mark.line + 1)
            _walk(item, child, found, seen)


def _scalar(node: yaml.Node, keys: list[str]) -> str | None:
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        found = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
        if found is None:
            return None
        node = found
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None
