"""The JSON-lines reader shared by `classify` and `evaluate --labelled`."""

from __future__ import annotations

from models.jsonlines import json_objects


def test_objects_and_problems_with_their_line_numbers() -> None:
    lines = ['{"a": 1}\n', "\n", "   \n", "{bad\n", "[1]\n", '"text"\n', '{"b": 2}']
    got = list(json_objects(lines))
    assert [n for n, _ in got] == [1, 4, 5, 6, 7]
    assert got[0][1] == {"a": 1} and got[4][1] == {"b": 2}
    assert str(got[1][1]).startswith("invalid JSON")
    assert got[2][1] == got[3][1] == "expected a JSON object"
