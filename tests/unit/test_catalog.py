from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.catalog import BrandCatalog
from pipeline.errors import ConfigError

CATALOG = BrandCatalog.from_mapping(
    {
        "brands": [
            {"id": "elal", "name": "El Al", "aliases": ["אל על", "@EL_AL_ISRAEL", "العال"]},
            {"id": "acme", "name": "Acme", "aliases": ["#AcmeFail", "ACME Corp"]},
            {"id": "koral", "name": "Koral Bank", "aliases": ["קורל"]},
        ]
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I hate El Al today", ["elal"]),
        ("EL AL lost my bag", ["elal"]),
        ("el   al again", ["elal"]),
        ("לאל על יש בעיה רצינית", ["elal"]),  # Hebrew prefix ל
        ("ובאל על לא עונים", ["elal"]),  # two prefixes ו+ב
        ("שאל עליו", []),  # not the name: "asked about him"
        ("@EL_AL_ISRAEL where is my bag", ["elal"]),
        ("بالعال مشكلة", ["elal"]),  # Arabic clitic ب + article
        ("acmeville is lovely", []),
        ("#acme is down", ["acme"]),
        ("@Acme help", ["acme"]),
        ("#AcmeFail trending", ["acme"]),
        ("ACME corp and El Al", ["elal", "acme"]),
        ("nothing here", []),
        ("ΑCME with a Greek alpha", []),
    ],
)
def test_alias_matching(text: str, expected: list[str]) -> None:
    assert CATALOG.match(text) == expected


def test_duplicate_ids_and_bad_shapes_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        BrandCatalog.from_mapping({"brands": [{"id": "a"}, {"id": "a"}]})
    with pytest.raises(ConfigError):
        BrandCatalog.from_mapping({"brands": [{"id": "a", "aliases": "not-a-list"}]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("brands: [", encoding="utf-8")
    with pytest.raises(ConfigError):
        BrandCatalog.load(bad)


def test_load_yaml_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "brands.yaml"
    path.write_text(
        "brands:\n  - id: x\n    name: Xylo\n    timezone: Asia/Jerusalem\n"
        "    detector: {warning_score: 70}\n    lexicon: {service_outage: [down again]}\n",
        encoding="utf-8",
    )
    catalog = BrandCatalog.load(path, strict=True)
    brand = catalog.brands["x"]
    assert catalog.strict and brand.timezone == "Asia/Jerusalem"
    assert brand.detector == {"warning_score": 70}
    assert brand.lexicon == {"service_outage": ("down again",)}
    assert catalog.match("xylo is great") == ["x"]
