"""The brand catalog and the alias matcher.

Catalog YAML::

    brands:
      - id: elal
        name: El Al
        aliases: ["El Al", "@EL_AL_ISRAEL", "#elal", "אל על", "العال"]
        timezone: Asia/Jerusalem         # optional: for hour-of-day / day-of-week baselines
        detector: {warning_score: 65}    # optional: per-brand detector overrides
        lexicon: {service_outage: ["delayed flight"]}  # optional: extra category terms

Matching is case-insensitive and Unicode-aware, never inside an unrelated word (``acme`` does not
match ``acmeville``), and lets the one-letter Hebrew prefixes (ו ה ב כ ל מ ש) and Arabic clitics
(و ف ب ك ل, with or without ال) attach to a name: ``לאל על`` and ``بالعال`` still match.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError

_HEBREW_PREFIX = "[והבכלמש]{0,3}"
_ARABIC_PREFIX = "(?:[وفبكل]{0,2}(?:ال)?)"
_WORD = r"[^\W_]"  # a letter or digit in any script


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _is_hebrew(ch: str) -> bool:
    return "\u0590" <= ch <= "\u05ff"


def _is_arabic(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff"


@dataclass(frozen=True, slots=True)
class Brand:
    id: str
    name: str
    aliases: tuple[str, ...]
    timezone: str = "UTC"
    detector: Mapping[str, Any] = field(default_factory=dict)
    lexicon: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


def _alias_pattern(alias: str) -> str:
    folded = _fold(alias.strip())
    body = r"\s+".join(re.escape(part) for part in folded.split())
    first = folded.lstrip("@#")[:1]
    prefix = ""
    if first and _is_hebrew(first):
        prefix = _HEBREW_PREFIX
    elif first and _is_arabic(first):
        prefix = _ARABIC_PREFIX
    if folded[:1] in "@#":
        # A handle or hashtag alias is matched as written, prefix letters cannot attach to it.
        return rf"(?<!{_WORD}){body}(?!{_WORD})"
    # Plain names also match as a handle or hashtag (@acme, #acme).
    return rf"(?<!{_WORD}){prefix}[@#]?{body}(?!{_WORD})"


class BrandCatalog:
    """Brands by id, and a compiled matcher from any alias to the brand ids it names."""

    def __init__(self, brands: Iterable[Brand], *, strict: bool = False) -> None:
        self.brands: dict[str, Brand] = {}
        for brand in brands:
            if brand.id in self.brands:
                msg = f"brand id {brand.id!r} appears twice in the catalog"
                raise ConfigError(msg)
            self.brands[brand.id] = brand
        self.strict = strict
        self._patterns: list[tuple[re.Pattern[str], str]] = []
        for brand in self.brands.values():
            names = {brand.name, *brand.aliases}
            alternatives = sorted(
                {_alias_pattern(a) for a in names if a.strip()}, key=len, reverse=True
            )
            if alternatives:
                self._patterns.append((re.compile("|".join(alternatives)), brand.id))

    def __contains__(self, brand_id: object) -> bool:
        return brand_id in self.brands

    def __len__(self) -> int:
        return len(self.brands)

    def ids(self) -> list[str]:
        return sorted(self.brands)

    def match(self, text: str) -> list[str]:
        """Ids of every brand the text names, in catalog order."""
        folded = _fold(text)
        return [brand_id for pattern, brand_id in self._patterns if pattern.search(folded)]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, strict: bool = False) -> BrandCatalog:
        raw_brands = data.get("brands")
        if not isinstance(raw_brands, list):
            msg = "catalog must have a 'brands' list"
            raise ConfigError(msg)
        brands = []
        for i, entry in enumerate(raw_brands):
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                msg = f"catalog brand #{i} needs a string 'id'"
                raise ConfigError(msg)
            aliases = entry.get("aliases") or []
            if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
                msg = f"catalog brand {entry['id']!r}: 'aliases' must be a list of strings"
                raise ConfigError(msg)
            lexicon = entry.get("lexicon") or {}
            if not isinstance(lexicon, dict):
                msg = f"catalog brand {entry['id']!r}: 'lexicon' must map category to terms"
                raise ConfigError(msg)
            known = {"id", "name", "aliases", "timezone", "detector", "lexicon"}
            brands.append(
                Brand(
                    id=entry["id"],
                    name=str(entry.get("name") or entry["id"]),
                    aliases=tuple(aliases),
                    timezone=str(entry.get("timezone") or "UTC"),
                    detector=dict(entry.get("detector") or {}),
                    lexicon={str(k): tuple(map(str, v)) for k, v in lexicon.items()},
                    extra={k: v for k, v in entry.items() if k not in known},
                )
            )
        return cls(brands, strict=strict)

    @classmethod
    def load(cls, path: Path, *, strict: bool = False) -> BrandCatalog:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            msg = f"cannot read brand catalog {path}: {exc}"
            raise ConfigError(msg) from exc
        if not isinstance(data, dict):
            msg = f"brand catalog {path} must be a mapping with a 'brands' list"
            raise ConfigError(msg)
        return cls.from_mapping(data, strict=strict)
