"""The built-in demo stream: fictional brands, texts written for this project, a deterministic
quiet period followed by a crisis (English and Hebrew)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

CATALOG = Path(__file__).with_name("demo_brands.yaml")
START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
QUIET_HOURS = 48
CRISIS_ONSET = START + timedelta(hours=QUIET_HOURS, minutes=9 * 60)  # 09:00 UTC on day three
CRISIS_BRAND = "nimbus-air"

_BACKGROUND = {
    "nimbus-air": [
        ("en", "Flying {brand} to Rome tomorrow, any tips for the lounge?"),
        ("en", "{brand} crew were lovely on my flight today, thanks!"),
        ("en", "Booked a family trip with {brand}, great price"),
        ("en", "Is the {brand} app showing gate changes for anyone else?"),
        ("en", "{brand} flight was a bit late but landed fine"),
        ("en", "Smooth check-in with {brand} this morning"),
        ("he", "טסתי עם {he} לאתונה, הכול היה בסדר גמור"),
        ("he", "מישהו יודע אם {he} מאפשרים מזוודה נוספת?"),
        ("he", "צוות מקסים ב{he}, תודה רבה"),
        ("en", "Why is my {brand} bag always the last one out, lol"),
    ],
    "koral-bank": [
        ("en", "Opened a savings account at {brand}, easy process"),
        ("en", "{brand} app update looks nice"),
        ("en", "Does {brand} have a branch near the central station?"),
        ("en", "Waiting on hold with {brand} again, 20 minutes so far"),
        ("he", "האפליקציה של {he} עובדת מצוין"),
        ("he", "קיבלתי שירות טוב ב{he} היום"),
        ("he", "מתי {he} פותחים סניף בחיפה?"),
    ],
}
_CRISIS = [
    (
        "en",
        "{brand} leaked my passport details, I just got an email from a stranger with my booking",
    ),
    ("en", "Data breach at {brand}?? My card was charged twice after booking, this is a scandal"),
    ("en", "{brand} exposed customer data and says nothing. Disgusting. #NimbusAirLeak"),
    ("en", "Cancel your {brand} cards NOW, passenger data is being sold online"),
    ("en", "Shame on {brand}, hackers have our personal data and support hangs up on us"),
    ("en", "My passport number from {brand} is on a hacker forum. Terrible, furious"),
    ("he", "דליפת מידע ב{he}! פרטי הדרכון שלי נחשפו, שערורייה"),
    ("he", "{he} הדליפו את פרטי האשראי של הנוסעים, בושה וחרפה"),
    ("he", "אל תטוסו עם {he}, המידע האישי שלנו נמכר ברשת"),
    ("he", "שירות הלקוחות של {he} מנתק לי את הטלפון, דליפה ענקית ואף אחד לא עונה"),
]
_NAMES = {"nimbus-air": ("Nimbus Air", "נימבוס"), "koral-bank": ("Koral Bank", "בנק קורל")}


def _rate_per_minute(brand: str, moment: datetime) -> float:
    """Quiet traffic with a daily rhythm (busier by day in Israel, UTC+2)."""
    hour = (moment.hour + 2) % 24 + moment.minute / 60
    daily = 0.55 + 0.45 * math.sin((hour - 8) / 24 * 2 * math.pi)
    base = 2.0 if brand == "nimbus-air" else 1.2
    return base * max(0.15, daily)


def _crisis_rate(minute: int) -> float:
    """Extra crisis mentions per minute: a spark, a fast climb to a peak, a slow decay."""
    if minute < 0:
        return 0.0
    if minute < 90:
        return 0.5 + 40.0 * (minute / 90) ** 2
    return 40.5 * math.exp(-(minute - 90) / 60)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def _mention(
    rng: random.Random,
    brand: str,
    template: tuple[str, str],
    moment: datetime,
    n: int,
    *,
    crisis: bool,
) -> dict[str, Any]:
    lang, text = template
    name, hebrew = _NAMES[brand]
    followers = int(rng.paretovariate(1.2) * (300 if crisis else 150))
    created = moment + timedelta(seconds=rng.randrange(60))
    return {
        "id": f"demo-{brand}-{n}",
        "source": "twitter" if n % 3 else "facebook",
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "text": text.format(brand=name, he=hebrew),
        "lang": lang,
        "author": {"id": f"u{rng.randrange(100_000)}", "followers": followers, "verified": False},
        "metrics": {
            "likes": rng.randrange(30 if crisis else 8),
            "shares": rng.randrange(10 if crisis else 3),
            "replies": rng.randrange(5),
        },
    }


def demo_mentions(seed: int = 7) -> Iterator[dict[str, Any]]:
    """Two quiet days for two brands, then a data-breach crisis at Nimbus Air, then recovery."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not security
    end = CRISIS_ONSET + timedelta(hours=4)
    moment, n = START, 0
    while moment < end:
        minute_rows = []
        for brand, templates in _BACKGROUND.items():
            for _ in range(_poisson(rng, _rate_per_minute(brand, moment))):
                n += 1
                minute_rows.append(
                    _mention(rng, brand, rng.choice(templates), moment, n, crisis=False)
                )
        since_onset = int((moment - CRISIS_ONSET).total_seconds() // 60)
        for _ in range(_poisson(rng, _crisis_rate(since_onset))):
            n += 1
            minute_rows.append(
                _mention(rng, CRISIS_BRAND, rng.choice(_CRISIS), moment, n, crisis=True)
            )
        minute_rows.sort(key=lambda row: row["created_at"])
        yield from minute_rows
        moment += timedelta(minutes=1)


def write_demo_stream(path: Path, seed: int = 7) -> int:
    count = 0
    with path.open("wb") as handle:
        for row in demo_mentions(seed):
            handle.write(orjson.dumps(row))
            handle.write(b"\n")
            count += 1
    return count
