"""YAML text to Python objects, safely and within bounds.

PyYAML's safe loaders construct only plain data, but they still expand aliases without limit: a file of
a kilobyte can stand for a document of a billion nodes, which every later step (pydantic, defaults,
template walks, JSON for the store) would then copy. Each document is therefore composed into its node
graph first and its expanded size counted (each node once, through a memo) before anything is built.

libyaml's parser is used where PyYAML has it (several times faster than the Python one, and it limits
nesting depth itself); PyYAML's own parser otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from pykatib.spec.limits import MAX_ALIAS_CHARACTERS, MAX_ALIAS_NODES

_FAST_LOADER: type[Any] | None = getattr(yaml, "CSafeLoader", None)


class YamlLimitError(yaml.YAMLError):
    """The text is YAML, but its aliases make the document too large (or infinite) to build."""


def load_all(text: str, *, max_alias_nodes: int = MAX_ALIAS_NODES) -> list[Any]:
    """The documents of ``text`` (empty ones left out). Raises yaml.YAMLError for a syntax error and
    YamlLimitError when aliases add more than ``max_alias_nodes`` nodes, counted over all documents."""
    return _load(text, max_alias_nodes, single=False)


def load(text: str, *, max_alias_nodes: int = MAX_ALIAS_NODES) -> Any:
    """The one document of ``text`` (None when empty), like ``yaml.safe_load`` but bounded as load_all."""
    documents = _load(text, max_alias_nodes, single=True)
    return documents[0] if documents else None


def _load(text: str, max_alias_nodes: int, *, single: bool) -> list[Any]:
    loader = _loader(text)
    # An alias is written '*name': text without '*' has none, and its expanded size is what was written.
    check = "*" in text
    added_nodes = added_chars = 0
    documents: list[Any] = []
    try:
        nodes = [loader.get_single_node()] if single else _nodes(loader)
        for node in nodes:
            if node is None:
                continue
            if check:
                grown_nodes, grown_chars = _alias_growth(node)
                added_nodes += grown_nodes
                added_chars += grown_chars
                if added_nodes > max_alias_nodes:
                    raise YamlLimitError(
                        f"YAML aliases expand the document too far: they add {_count(added_nodes)} "
                        f"nodes to those written in the file, more than the {max_alias_nodes:,} allowed"
                    )
                if added_chars > MAX_ALIAS_CHARACTERS:
                    raise YamlLimitError(
                        f"YAML aliases expand the document too far: they repeat {_count(added_chars)} characters "
                        f"of text, more than the {MAX_ALIAS_CHARACTERS:,} allowed"
                    )
            document = loader.construct_document(node)
            if document is not None:
                documents.append(document)
    finally:
        loader.dispose()
    return documents


def _loader(text: str) -> Any:
    if _FAST_LOADER is not None:
        try:
            return _FAST_LOADER(text)
        except UnicodeEncodeError:
            pass  # a lone surrogate (from a Python string, never from a file): the Python reader names it
    return yaml.SafeLoader(text)


def _nodes(loader: Any) -> Iterator[yaml.Node]:
    while loader.check_node():
        yield loader.get_node()


def _alias_growth(root: yaml.Node) -> tuple[int, int]:
    """How much aliases add to the document under ``root``: (nodes, characters of scalars), its size with
    every alias expanded less its distinct nodes. Characters count too: an alias to one long string adds
    one node but the whole string. Each distinct node is visited once; an alias inside its own anchor's
    node (an infinite document) raises YamlLimitError."""
    expanded: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, characters) of its expanded subtree
    distinct = [0, 0]
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, Iterator[yaml.Node]]] = [(root, iter(_children(root)))]
    sizes = [[1, 0]]  # running size of each node on the stack
    on_path.add(id(root))
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            on_path.discard(id(node))
            nodes, chars = sizes.pop()
            expanded[id(node)] = (nodes, chars)
            distinct[0] += 1
            if sizes:
                sizes[-1][0] += nodes
                sizes[-1][1] += chars
            continue
        key = id(child)
        if key in expanded:
            nodes, chars = expanded[key]
        elif key in on_path:
            raise YamlLimitError("a YAML alias refers to a node that contains it: the document would be infinite")
        elif isinstance(child, yaml.ScalarNode):
            nodes, chars = expanded[key] = (1, len(child.value))
            distinct[0] += 1
            distinct[1] += chars
        else:
            on_path.add(key)
            stack.append((child, iter(_children(child))))
            sizes.append([1, 0])
            continue
        sizes[-1][0] += nodes
        sizes[-1][1] += chars
    nodes, chars = expanded[id(root)]
    return nodes - distinct[0], chars - distinct[1]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _count(number: int) -> str:
    """A node count for a message: exact when readable, as a power of ten when it is astronomical."""
    return f"{number:,}" if number < 10**15 else f"about 10^{len(str(number)) - 1}"
