"""The base of Katib's SDK model classes, and their JSON form both ways.

Katib's SDK generates one class per OpenAPI schema: ``openapi_types`` (attribute -> type name) and
``attribute_map`` (attribute -> JSON name), a constructor taking every attribute (positionally in that order,
or by keyword), ``to_dict()`` (snake_case keys), ``__eq__`` on ``to_dict()`` and a ``pprint`` repr. ``Model``
gives all of that from the two tables, so ``models.py`` is a table rather than 40 generated files.

``serialize`` turns any model (ours, Katib's, the Kubernetes client's: anything with ``openapi_types`` and
``attribute_map``, else ``to_dict()``) into Kubernetes' camelCase JSON, as Katib's ``ApiClient`` does;
``deserialize`` builds models back from the server's JSON (unknown keys dropped, as Katib's does).
"""

from __future__ import annotations

import datetime
import pprint
import re
from collections.abc import Mapping
from typing import Any, ClassVar

_LIST = re.compile(r"list\[(.+)\]")
_DICT = re.compile(r"dict\(([^,]+),\s*(.+)\)")
_PRIMITIVES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}


def camel(name: str) -> str:
    """``max_trial_count`` -> ``maxTrialCount`` (Kubernetes' JSON names)."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


class Model:
    """One object of Katib's API. Subclasses set ``openapi_types`` and ``attribute_map``."""

    openapi_types: ClassVar[dict[str, str]] = {}
    attribute_map: ClassVar[dict[str, str]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("local_vars_configuration", None)  # Katib's generated constructors take it; nothing uses it
        names = list(self.openapi_types)
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes at most {len(names)} positional arguments")
        values = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in self.openapi_types:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{type(self).__name__}() got multiple values for argument {key!r}")
            values[key] = value
        for name in names:
            setattr(self, name, values.get(name))

    def __getattr__(self, name: str) -> Any:
        # Only reached for names never set: every attribute of the schema is set in __init__. Declared so that
        # type checkers accept the attributes of classes built from the table.
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)  # declared for type checkers too: any attribute may be set, as on Katib's

    def to_dict(self) -> dict[str, Any]:
        """The model's attributes by their Python names, nested models as dicts (as Katib's ``to_dict``)."""
        return {name: _plain(getattr(self, name, None)) for name in self.openapi_types}

    def to_str(self) -> str:
        return pprint.pformat(self.to_dict())

    def __repr__(self) -> str:
        return self.to_str()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and self.to_dict() == other.to_dict()

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value: unhashable, as Katib's


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [item.to_dict() if hasattr(item, "to_dict") else item for item in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in value.items()}
    return value


def make_model(name: str, types: Mapping[str, str], json_names: Mapping[str, str] | None = None) -> type[Model]:
    """A Model subclass named ``name`` with these attribute types; JSON names are camelCase unless given."""
    attribute_map = {attr: (json_names or {}).get(attr) or camel(attr) for attr in types}
    doc = f"Katib's ``{name}``: attributes {', '.join(types)}."
    namespace = {"openapi_types": dict(types), "attribute_map": attribute_map, "__doc__": doc,
                 "__module__": "pykatib.sdk.models"}  # fmt: skip
    return type(name, (Model,), namespace)


def serialize(obj: Any) -> Any:
    """Kubernetes' JSON of ``obj``: models by their ``attribute_map`` names, unset (None) fields left out."""
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    if isinstance(obj, list | tuple):
        return [serialize(item) for item in obj]
    if isinstance(obj, datetime.datetime | datetime.date):
        return obj.isoformat()
    if isinstance(obj, Mapping):
        return {str(k): serialize(v) for k, v in obj.items() if v is not None}
    types = getattr(obj, "openapi_types", None)
    names = getattr(obj, "attribute_map", None)
    if isinstance(types, Mapping) and isinstance(names, Mapping):
        fields = ((names.get(attr, attr), getattr(obj, attr, None)) for attr in types)
        return {key: serialize(value) for key, value in fields if value is not None}
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return serialize(to_dict())
    raise TypeError(f"cannot serialize {type(obj).__name__} to JSON: expected a model, a dict or a plain value")


def deserialize(data: Any, type_name: str, classes: Mapping[str, type[Model]]) -> Any:
    """``data`` (the server's JSON) as ``type_name``: a class of ``classes``, ``list[...]``, ``dict(str, ...)``,
    a primitive, ``datetime`` or ``object`` (kept as it is)."""
    if data is None:
        return None
    if match := _LIST.fullmatch(type_name):
        return [deserialize(item, match.group(1), classes) for item in data] if isinstance(data, list) else data
    if match := _DICT.fullmatch(type_name):
        inner = match.group(2)
        return {k: deserialize(v, inner, classes) for k, v in data.items()} if isinstance(data, dict) else data
    if type_name in _PRIMITIVES:
        try:
            return _PRIMITIVES[type_name](data)
        except (TypeError, ValueError):
            return data
    if type_name == "datetime":
        return _datetime(data)
    cls = classes.get(type_name)
    if cls is None or not isinstance(data, dict):
        return data  # "object", or a type this SDK keeps as plain JSON (a V1Container)
    values = {attr: deserialize(data.get(key), cls.openapi_types[attr], classes)
              for attr, key in cls.attribute_map.items() if key in data}  # fmt: skip
    return cls(**values)


def _datetime(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        return value
