"""The demo's sample traffic (traffic.jsonl, in the harness's JSON lines format): ten
minutes of an online shop behind two sidecars, then one account scraping card data.

- `checkout` answers `GET /v1/cards` with a customer's saved cards (Luhn-valid test
  numbers) and e-mail address; `accounts` answers `GET /v1/profile/<n>` with an e-mail
  address and a phone number. Callers come through the `web` frontend (mTLS principal
  `spiffe://cluster.local/ns/shop/sa/web`) with a bearer JWT naming the user.
- Four users make two requests a minute for ten minutes: the behaviour baselines learn.
- In minute eleven `dave` pages through `GET /v1/cards/export`, 26 cards a page, thirty
  pages in a minute: more than the policy lets one response carry, far above his baseline.

`python -m controlplane.demo.sample_traffic` writes the file again; a test checks that the
bundled file is exactly what this produces, so the data stays reproducible.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TRAFFIC_FILE = Path(__file__).resolve().parent / "traffic.jsonl"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
USERS = ("alice", "bob", "carol", "dave")
WEB_PRINCIPAL = "spiffe://cluster.local/ns/shop/sa/web"
CHECKOUT = "checkout.shop.svc.cluster.local"
ACCOUNTS = "accounts.shop.svc.cluster.local"
MINUTES = 10
EXPORT_PAGES = 30
CARDS_PER_EXPORT_PAGE = 26
SEED = 20260105


def luhn_card(rng: random.Random, prefix: str = "4") -> str:
    """A 16-digit test card number with a valid Luhn check digit."""
    digits = prefix + "".join(str(rng.randrange(10)) for _ in range(15 - len(prefix)))
    total = 0
    for index, digit in enumerate(reversed(digits)):
        value = int(digit)
        if index % 2 == 0:
            value *= 2
            value -= 9 if value > 9 else 0
        total += value
    return digits + str((10 - total % 10) % 10)


def bearer(user: str) -> str:
    """A JWT-shaped bearer token naming the user (unsigned: the UEBA filter reads it
    unverified and says so)."""

    def part(claims: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part({'sub': user, 'iss': 'shop-idp'})}.c2lnbmF0dXJl"


def _record(
    exchange_id: str, at: datetime, user: str, url: str, body: dict[str, Any], *, address: str
) -> dict[str, Any]:
    return {
        "id": exchange_id,
        "started_at": at.isoformat().replace("+00:00", "Z"),
        "connection": {"source.address": address, "source.principal": WEB_PRINCIPAL},
        "request": {
            "method": "GET",
            "url": url,
            "headers": {"authorization": f"Bearer {bearer(user)}", "accept": "application/json"},
        },
        "response": {"status": 200, "headers": {"content-type": "application/json"}, "json": body},
    }


def _cards(rng: random.Random, user: str, count: int) -> dict[str, Any]:
    return {
        "customer": user,
        "email": f"{user}@example.com",
        "cards": [
            {"number": luhn_card(rng), "expires": f"{rng.randint(1, 12):02d}/{rng.randint(27, 31)}"}
            for _ in range(count)
        ],
    }


def records(seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not a secret
    made = []
    for minute in range(MINUTES):
        for index, user in enumerate(USERS):
            address = f"10.0.3.{10 + index}:{40000 + minute}"
            for turn in range(2):
                at = START + timedelta(minutes=minute, seconds=7 + 13 * index + 25 * turn + rng.randrange(5))
                if turn == 0:
                    url = f"http://{CHECKOUT}/v1/cards?customer={user}"
                    body = _cards(rng, user, rng.randint(1, 3))
                else:
                    url = f"http://{ACCOUNTS}/v1/profile/{user}"
                    body = {"user": user, "email": f"{user}@example.com",
                            "phone": f"+1 415-555-{rng.randint(100, 199):04d}"}  # fmt: skip
                made.append(_record(f"m{minute}-{user}-{turn}", at, user, url, body, address=address))
    burst = START + timedelta(minutes=MINUTES, seconds=2)
    for page in range(1, EXPORT_PAGES + 1):
        at = burst + timedelta(seconds=page + page // 2)
        url = f"http://{CHECKOUT}/v1/cards/export?page={page}"
        body = _cards(rng, "dave", CARDS_PER_EXPORT_PAGE) | {"page": page}
        made.append(_record(f"export-{page}", at, "dave", url, body, address="10.0.3.13:41000"))
    return sorted(made, key=lambda record: (record["started_at"], record["id"]))


def render(seed: int = SEED) -> str:
    return "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records(seed))


if __name__ == "__main__":
    TRAFFIC_FILE.write_text(render(), encoding="utf-8")
