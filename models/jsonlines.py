"""JSON-lines input of the classifier's commands: one object per line, bad lines reported."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson


def json_objects(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """``(line number, object)`` per non-blank line, or ``(line number, what is wrong)`` when the
    line is not JSON or not a JSON object. Numbers count every line, blank ones included."""
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield lineno, f"invalid JSON ({exc})"
            continue
        yield lineno, rec if isinstance(rec, dict) else "expected a JSON object"
