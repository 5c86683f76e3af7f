"""Values the Store and its call mixins share: the time it stamps rows with, and a document as read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def now() -> datetime:
    return datetime.now(UTC)


def json_copy(document: Any) -> Any:
    """What reading the document back would return, so a returned record equals a later read."""
    return json.loads(json.dumps(document, ensure_ascii=False, allow_nan=False))
