"""What a container asks for (``resources.requests``, else ``limits``), in numbers an executor can schedule by:
cpu in cores, memory in bytes, ``nvidia.com/gpu`` and other extended resources in units."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

# Kubernetes quantity suffixes (resource.Quantity): binary, decimal, and milli.
_SUFFIXES = {
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60, "m": Decimal("0.001"), "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18, "n": Decimal("1e-9"), "u": Decimal("1e-6"),
}  # fmt: skip
_QUANTITY = re.compile(r"^([+]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


class ResourceError(ValueError):
    """A resource request that cannot be met or is not one Kubernetes would accept (``execute.gpus``'s
    GpuRequestError is one)."""


def parse_quantity(value: object, where: str) -> float:
    """A Kubernetes quantity ("500m", "2Gi", "1.5", 2) as a number."""
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if match is None:
        raise ResourceError(f"{where}: {value!r} is not a quantity (e.g. 500m, 2, 4Gi)")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        raise ResourceError(f"{where}: {value!r} is not a quantity (e.g. 500m, 2, 4Gi)") from None
    return float(number * _SUFFIXES.get(match.group(2) or "", Decimal(1)))


def container_requests(container: Mapping[str, Any], where: str) -> dict[str, float]:
    """Each resource the container asks for: its request, else its limit (Kubernetes defaults a missing
    request to the limit)."""
    resources = container.get("resources") or {}
    if not isinstance(resources, dict):
        return {}
    asked: dict[str, float] = {}
    for section in ("limits", "requests"):  # requests last: they win
        values = resources.get(section) or {}
        if isinstance(values, dict):
            for name, value in values.items():
                asked[str(name)] = parse_quantity(value, f"{where}: resources.{section}.{name}")
    return asked
