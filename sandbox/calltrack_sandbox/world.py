"""Deterministic synthetic data shared by the three emulated vendors.

Calls are generated per (vendor, account, local day) from the seed, so any page of any
range can be produced without holding the data set in memory, and tests can compute the
expected rows independently of the server. Each vendor app renders the same
:class:`CallFacts` into its own answer shape.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field
from functools import lru_cache

CITIES = [
    ("Москва", "Москва"), ("Санкт-Петербург", "Санкт-Петербург"),
    ("Новосибирск", "Новосибирская область"), ("Екатеринбург", "Свердловская область"),
    ("Казань", "Республика Татарстан"), ("Нижний Новгород", "Нижегородская область"),
    ("Самара", "Самарская область"), ("Краснодар", "Краснодарский край"),
    ("Воронеж", "Воронежская область"), ("Пермь", "Пермский край"),
]
# (source, medium, utm_source, utm_medium, campaigns, keywords)
CHANNELS = [
    ("yandex", "cpc", "yandex", "cpc", ["brand_msk", "generic_okna", "retarget_rf"],
     ["пластиковые окна", "окна пвх цена", "остекление балкона"]),
    ("google", "cpc", "google", "cpc", ["search_ru", "pmax_all"],
     ["купить окна", "окна недорого"]),
    ("vk", "social", "vk", "social", ["vk_leadform_spring", "vk_retarget"], [""]),
    ("yandex", "organic", "", "", [""], ["окна москва", "установка окон"]),
    ("(direct)", "(none)", "", "", [""], [""]),
    ("avito.ru", "referral", "", "", [""], [""]),
]
DEVICES = [("desktop", "Windows", "Chrome"), ("mobile", "Android", "Chrome Mobile"),
           ("mobile", "iOS", "Mobile Safari"), ("tablet", "iPadOS", "Safari")]
TAGS = ["Продажа", "Консультация", "Спам", "Повторный", "Замер", "Доставка", "Жалоба"]
MANAGERS = ["Иванова Анна", "Петров Сергей", "Смирнова Ольга", "Кузнецов Денис"]
PLACEHOLDER = "<не указано>"


@dataclass(frozen=True)
class CallFacts:
    """One call, vendor-neutral; vendor apps render it in their own shape."""

    vendor: str
    account: str
    day: dt.date
    index: int
    call_id: int
    started_local: dt.datetime  # naive, account-local
    session_local: dt.datetime
    duration_s: int
    wait_s: int
    answered: bool
    direction: str
    caller_number: str
    tracking_number: str
    redirect_number: str
    is_unique: bool
    is_target: bool
    is_callback: bool
    source: str
    medium: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_content: str
    utm_term: str
    keyword: str
    referrer: str
    landing_url: str
    city: str
    region: str
    country: str
    device: str
    os: str
    browser: str
    ip: str
    tags: tuple[str, ...]
    manager: str
    session_id: int
    ya_client_id: str
    ga_client_id: str
    direct_ids: tuple[int, int, int, int]
    google_ids: tuple[int, int, int, int]
    comments: tuple[str, ...] = field(default=())

    @property
    def talk_s(self) -> int:
        return self.duration_s - self.wait_s if self.answered else 0

    @property
    def is_unique_target(self) -> bool:
        return self.is_unique and self.is_target

    @property
    def has_record(self) -> bool:
        return self.answered and self.talk_s > 0


def stable_int(*parts: object) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class World:
    """The data set: seed, calls per account, and the local-date span that holds data."""

    seed: int = 1
    calls_per_account: int = 300
    first_day: dt.date = dt.date(2024, 1, 1)
    days: int = 91

    @property
    def last_day(self) -> dt.date:
        return self.first_day + dt.timedelta(days=self.days - 1)

    def calls_on(self, vendor: str, account: str, day: dt.date) -> list[CallFacts]:
        if not self.first_day <= day <= self.last_day:
            return []
        return list(_calls_on(self, vendor, account, day))

    def count_on(self, vendor: str, account: str, day: dt.date) -> int:
        if not self.first_day <= day <= self.last_day:
            return 0
        return _count_on(self, vendor, account, day)

    def calls_between(self, vendor: str, account: str, first: dt.date, last: dt.date
                      ) -> list[CallFacts]:
        calls: list[CallFacts] = []
        day = max(first, self.first_day)
        while day <= min(last, self.last_day):
            calls.extend(_calls_on(self, vendor, account, day))
            day += dt.timedelta(days=1)
        return calls


@lru_cache(maxsize=200_000)
def _count_on(world: World, vendor: str, account: str, day: dt.date) -> int:
    rng = random.Random(f"{world.seed}:{vendor}:{account}:{day}:count")
    mean = world.calls_per_account / world.days
    weekend = 0.6 if day.weekday() >= 5 else 1.15
    return max(0, round(mean * weekend * rng.uniform(0.7, 1.3)))


# Enough days for a few windows of every account; the data set itself is never held.
@lru_cache(maxsize=1024)
def _calls_on(world: World, vendor: str, account: str, day: dt.date) -> tuple[CallFacts, ...]:
    count = _count_on(world, vendor, account, day)
    rng = random.Random(f"{world.seed}:{vendor}:{account}:{day}:calls")
    seconds = sorted(rng.randrange(7 * 3600, 23 * 3600) for _ in range(count))
    return tuple(_one_call(world, rng, vendor, account, day, i, s) for i, s in enumerate(seconds))


def _phone(rng: random.Random, prefix: str = "79") -> str:
    return prefix + "".join(str(rng.randrange(10)) for _ in range(11 - len(prefix)))


def _one_call(world: World, rng: random.Random, vendor: str, account: str, day: dt.date,
              index: int, second_of_day: int) -> CallFacts:
    started = dt.datetime.combine(day, dt.time(0)) + dt.timedelta(seconds=second_of_day)
    source, medium, utm_source, utm_medium, campaigns, keywords = rng.choice(CHANNELS)
    campaign = rng.choice(campaigns)
    city, region = rng.choice(CITIES)
    device, os_name, browser = rng.choice(DEVICES)
    answered = rng.random() < 0.82
    wait = rng.randrange(2, 40)
    duration = wait + (rng.randrange(15, 900) if answered else 0)
    unique = rng.random() < 0.7
    target = answered and duration - wait >= 30 and rng.random() < 0.8
    tags = tuple(sorted(rng.sample(TAGS, rng.choice((0, 0, 1, 1, 2)))))
    base = stable_int(world.seed, vendor, account)
    return CallFacts(
        vendor=vendor, account=account, day=day, index=index,
        call_id=100_000_000 + (base % 800_000_000) + (day - world.first_day).days * 10_000 + index,
        started_local=started,
        session_local=started - dt.timedelta(minutes=rng.randrange(1, 180)),
        duration_s=duration, wait_s=wait, answered=answered,
        direction="in" if rng.random() < 0.93 else "out",
        caller_number=_phone(rng), tracking_number=_phone(rng, "7495"),
        redirect_number=_phone(rng, "7499"),
        is_unique=unique, is_target=target, is_callback=rng.random() < 0.08,
        source=source, medium=medium,
        utm_source=utm_source or PLACEHOLDER, utm_medium=utm_medium or PLACEHOLDER,
        utm_campaign=campaign or PLACEHOLDER,
        utm_content=f"ad{rng.randrange(1, 40)}" if campaign else PLACEHOLDER,
        utm_term=(rng.choice(keywords) or PLACEHOLDER) if medium == "cpc" else PLACEHOLDER,
        keyword=rng.choice(keywords) or "(not set)",
        referrer="" if source == "(direct)" else f"https://{source.split('.')[0]}.ru/",
        landing_url=f"https://okna-{account.lower()}.ru/{rng.choice(['', 'catalog/', 'price/'])}",
        city=city, region=region, country="Россия", device=device, os=os_name,
        browser=browser, ip=f"95.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
        tags=tags, manager=rng.choice(MANAGERS) if answered else "",
        session_id=20_000_000 + stable_int(base, day, index) % 10_000_000,
        ya_client_id=str(1_600_000_000_000_000_000 + stable_int("ya", base, day, index) % 10**18),
        ga_client_id=f"{rng.randrange(10**9)}.{rng.randrange(10**9)}",
        direct_ids=(70_000_000 + rng.randrange(10**6), 5_000_000_000 + rng.randrange(10**6),
                    15_000_000_000 + rng.randrange(10**6), 40_000_000_000 + rng.randrange(10**6)),
        google_ids=(20_000_000_000 + rng.randrange(10**6), 150_000_000_000 + rng.randrange(10**6),
                    600_000_000_000 + rng.randrange(10**6), 10**12 + rng.randrange(10**6)),
        comments=("Перезвонить завтра\n",) if rng.random() < 0.1 else (),
    )


def record_bytes(vendor: str, account: str, call_id: object, size: int = 4096) -> bytes:
    """A fake but deterministic MP3 body (an ID3 header and pseudo-random frames)."""
    rng = random.Random(f"record:{vendor}:{account}:{call_id}")
    return b"ID3\x04\x00\x00\x00\x00\x00\x00" + rng.randbytes(size - 10)
