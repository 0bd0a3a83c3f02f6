"""Emulated CallKeeper call-tracking API (ckct.ru): ``/callkeeper/api/?json/v3/<key>/call/...``.

Behaviour follows ../shared/vendor-docs (doc 002, NOTES.md section 3): the route is the
raw query string (read from ``SandboxRequest.raw_query``, never unquoted, so a client that
percent-encodes it is refused like the vendor would); pages from 0, 1000 calls a page;
``from``/``to`` as ``Y-m-d`` (``to`` inclusive, or exclusive with ``--callkeeper-to
exclusive``: the doc's example does not settle it) or unix timestamps; v3 answers are bare
arrays whose values are never null; errors are ``{"inbound": {"error": ...}, "info",
"payload": []}``.

Principals (users and roles), one config account each, chosen to cover every case:

============  ==========  =============  ==========================================
principal     method      answer shape   a page past the last one answers
============  ==========  =============  ==========================================
user-1        get         v3 array       ``[]``
role-1        getByRole   v3 array       "Incorrect page is set"
user-2        getWithRole v3 array       "No rows found" (own calls + role-1's)
user-3        get         legacy v1      "Incorrect page is set" (envelope, ofPages)
user-4...     get         v3 array       ``[]`` (only when ``--accounts`` > 4)
============  ==========  =============  ==========================================

Page 0 of an empty range answers "No rows found" for everyone (the documented case).
Where the docs are silent (see docs/callkeeper.md): a role key is recognised only with
getByRole and a user key only with get/getWithRole (otherwise "User is not recognized");
the HTTP status is 200 when the data end (page 0 of an empty range, a page past the
last), 401 for an unknown key, 400 for the other refusals; a bad ``to`` answers "End date
has wrong type..."; ``callTime`` is in the owning cabinet's zone; ``recordUrl`` is a
key-free link to this sandbox.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import string
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from calltrack_sandbox.protocol import SandboxOptions, SandboxRequest, SandboxResponse
from calltrack_sandbox.world import CallFacts, World, record_bytes, stable_int

PREFIX = "/callkeeper"
API_PATHS = frozenset({"/api/", "/api", "/api/index.php"})
RECORD_PATH = re.compile(r"^/records/(\d+)\.mp3$")
VENDOR = "callkeeper"
PAGE_SIZE = 1000
UID_OWNER = 10**16  # universalId = owner number * 10^16 + day offset * 10^5 + index
UID_DAY = 10**5
METHODS = ("get", "getByRole", "getWithRole")
KEY_ALPHABET = string.digits + string.ascii_lowercase

NO_ROWS = "No rows found"
BAD_PAGE = "Incorrect page is set"
BAD_USER = "User is not recognized"
BAD_FORMAT = "Type to return is not available"
BAD_VERSION = "It is wrong API version"
BAD_ENTITY = "Entity does not exist"
BAD_METHOD = "Method does not exist"
BAD_START = "Start date has wrong type. Possible format is 'Y-m-d' or timestamp"
BAD_END = "End date has wrong type. Possible format is 'Y-m-d' or timestamp"
INFO = {
    "entities": {"call": ["get"], "callrole": ["get"], "phone": ["get"], "user": ["get"],
                 "campaign": ["get"], "tag": ["get"]},
    "types": ["json", "plain", "csv", "xml"],
    "versions": ["v1"],  # sic: the vendor's error example says v1 for v3 requests
}
CLIENT_ZONES = {"Новосибирск": "Asia/Novosibirsk", "Екатеринбург": "Asia/Yekaterinburg",
                "Пермь": "Asia/Yekaterinburg", "Самара": "Europe/Samara"}
EXTRA_ZONES = ["Europe/Moscow", "Asia/Novosibirsk", "Europe/Samara"]


@dataclass(frozen=True)
class Principal:
    """A key holder: a user (own calls, maybe granted roles) or a role (granted calls)."""

    slug: str  # World account name of the calls it owns
    number: int  # first digit(s) of its calls' universalId
    key: str
    is_role: bool
    timezone: str
    method: str  # what its config account asks for
    name: str | None
    shape: str = "v3"  # "v3" bare arrays or "legacy" envelopes
    past_end: str = "empty"  # answer past the last page: "empty", NO_ROWS or BAD_PAGE
    roles: tuple[str, ...] = ()
    config_timezone: bool = True  # False: left to the tap's default


class Refusal(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Route:
    principal: Principal
    method: str
    page: int
    lower: dt.datetime  # naive, the principal's local time, inclusive
    upper: dt.datetime  # exclusive


def make_key(seed: int, slug: str) -> str:
    """A 16-character alphanumeric key, like the vendor's."""
    number = int.from_bytes(hashlib.sha256(f"{VENDOR}:{seed}:{slug}".encode()).digest(), "big")
    chars = []
    for _ in range(16):
        number, digit = divmod(number, len(KEY_ALPHABET))
        chars.append(KEY_ALPHABET[digit])
    return "".join(chars)


def make_principals(options: SandboxOptions) -> list[Principal]:
    """The four designated principals, plus plain users up to ``options.accounts``."""
    seed = options.seed
    designated = [
        Principal("user-1", 1, make_key(seed, "user-1"), False, "Europe/Moscow", "get",
                  "Окна-Север"),
        Principal("role-1", 2, make_key(seed, "role-1"), True, "Europe/Moscow", "getByRole",
                  "Дилеры (роль)", past_end=BAD_PAGE),
        Principal("user-2", 3, make_key(seed, "user-2"), False, "Europe/Moscow", "getWithRole",
                  None, past_end=NO_ROWS, roles=("role-1",), config_timezone=False),
        Principal("user-3", 4, make_key(seed, "user-3"), False, "Asia/Yekaterinburg", "get",
                  "Окна-Урал", shape="legacy", past_end=BAD_PAGE),
    ]
    extra = [
        Principal(f"user-{n}", n + 1, make_key(seed, f"user-{n}"), False,
                  EXTRA_ZONES[n % len(EXTRA_ZONES)], "get", f"Окна-{n}")
        for n in range(4, max(options.accounts, len(designated)))
    ]
    return designated + extra


def universal_id(principal: Principal, facts: CallFacts, world: World) -> str:
    return str(principal.number * UID_OWNER + (facts.day - world.first_day).days * UID_DAY
               + facts.index)


def error_body(message: str) -> dict[str, Any]:
    return {"inbound": {"error": message}, "info": INFO, "payload": []}


def parse_bound(text: str | None, zone: ZoneInfo, *, upper: bool,
                inclusive: bool = True) -> dt.datetime | None:
    """A route date as naive local time: Y-m-d or a timestamp. As ``to``, an exclusive
    bound: the end of that day or second (``inclusive``), or its start."""
    if text is None:
        return None
    if text.isascii() and text.isdigit():
        moment = dt.datetime.fromtimestamp(int(text), zone).replace(tzinfo=None)
        return moment + dt.timedelta(seconds=1) if upper and inclusive else moment
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return dt.datetime.combine(day + dt.timedelta(days=1) if upper and inclusive else day,
                               dt.time(0))


def v1_row(row: dict[str, Any], index: int, null_times: bool = False) -> dict[str, Any]:
    """A v3 call in the v1 names of the legacy envelope's only example (NOTES.md 3.1):
    ``callId`` (a number), ``state`` "first/second", ``timeStart``, ``clientPhone``, ``record``
    and camel-case UTMs, "-" for empty strings, null for an empty record. ``timeStart`` is
    ``Y-m-d H:i:s`` in the cabinet's zone (its format is not documented); the example's is
    null: with ``null_times`` every tenth call has none either."""
    callback = row["serviceType"] == "callback"
    legacy = {
        "callId": int(row["universalId"]),
        "state": f"{row['statusFirst']}/{row['statusSecond']}",
        "stateDescription": "Успешный звонок" if row["status"] == "success"
        else "Абонент не ответил",
        "timeStart": None if null_times and index % 10 == 3 else row["callTime"],
        "duration": row["duration"], "clientPhone": row["clientNumber"],
        "officePhone": row["managerNumber"], "routePhone": row["callerIdToClient"],
        "campaignId": row["ctCampaignId"], "campaignName": row["ctCampaignName"],
        "officeName": row["cbOfficeName"],
        "callType": "Обратный звонок" if callback else "Динамический коллтрекинг",
        "sourceType": row["utm_medium"],
        "audition": "Прослушано" if row["ctIsListened"] == "1" else "Не прослушано",
        "record": row["recordUrl"] or None, "tagsId": [],
        "utmSource": row["utm_source"], "city": row["city"], "site": row["site"],
        "device": row["device"], "region": row["region"], "clientIp": row["ipAddress"],
        "utmMedium": row["utm_medium"], "utmCampaign": row["utm_campaign"],
        "utmTerm": row["utm_term"], "utmContent": row["utm_content"],
    }
    return {name: "-" if value == "" else value for name, value in legacy.items()}


class CallkeeperApp:
    prefix = PREFIX

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.world: World = options.world
        self.principals = make_principals(options)
        self.by_key = {p.key: p for p in self.principals}
        self.by_slug = {p.slug: p for p in self.principals}
        self.by_number = {p.number: p for p in self.principals}
        self.inclusive_to = options.callkeeper_to != "exclusive"
        self.v1_null_times = options.callkeeper_v1_null_times

    # --- sandbox protocol --------------------------------------------------------------

    def tap_config(self, base_url: str) -> dict[str, Any]:
        return {"callkeeper": {
            "api_url": f"{base_url}{PREFIX}/api/",
            "accounts": [self.config_account(p) for p in self.principals],
        }}

    @staticmethod
    def config_account(principal: Principal) -> dict[str, Any]:
        account: dict[str, Any] = {"api_key": principal.key, "method": principal.method}
        if principal.config_timezone:
            account["timezone"] = principal.timezone
        if principal.name:
            account["name"] = principal.name
        return account

    def too_many_requests(self, retry_after: str) -> SandboxResponse:
        return SandboxResponse.json(error_body("Too many requests"), 429,
                                    **{"Retry-After": retry_after})

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path in API_PATHS:
            return self.api(request)
        match = RECORD_PATH.match(request.path)
        if match:
            return self.recording(match.group(1))
        return SandboxResponse.html("Not Found", 404)

    # --- the calls API -----------------------------------------------------------------

    def api(self, request: SandboxRequest) -> SandboxResponse:
        try:
            route = self.parse_route(request.raw_query)
            return self.calls(route, request.base_url)
        except Refusal as refusal:
            return SandboxResponse.json(error_body(refusal.message), refusal.status)

    def parse_route(self, raw_query: str) -> Route:
        """``format/version/key/entity/method/page/from[/to]``, checked in that order."""
        parts = raw_query.split("/")
        while len(parts) > 1 and parts[-1] == "":
            parts.pop()
        fmt, version, key, entity, method, page, start, end = (parts + [None] * 8)[:8]
        if fmt != "json":
            raise Refusal(BAD_FORMAT)
        if version != "v3":
            raise Refusal(BAD_VERSION)
        principal = self.by_key.get(key or "")
        if principal is None:
            raise Refusal(BAD_USER, 401)
        if entity != "call":
            raise Refusal(BAD_ENTITY)
        if method not in METHODS:
            raise Refusal(BAD_METHOD)
        if (method == "getByRole") != principal.is_role:
            raise Refusal(BAD_USER, 401)  # a role key only with getByRole, a user key never
        if page is None or not (page.isascii() and page.isdigit()):
            raise Refusal(BAD_PAGE)
        return Route(principal, method, int(page), *self.bounds(principal, start, end))

    def bounds(self, principal: Principal, start: str | None, end: str | None
               ) -> tuple[dt.datetime, dt.datetime]:
        zone = ZoneInfo(principal.timezone)
        lower = parse_bound(start, zone, upper=False)
        if lower is None:
            raise Refusal(BAD_START)
        if end is None:  # "defaults to the current date"
            end = dt.datetime.now(zone).date().isoformat()
        upper = parse_bound(end, zone, upper=True, inclusive=self.inclusive_to)
        if upper is None:
            raise Refusal(BAD_END)
        return lower, upper

    def selected(self, route: Route) -> list[tuple[Principal, CallFacts]]:
        """The calls the key sees in the range, in call-time order."""
        owners = [route.principal]
        if route.method == "getWithRole":
            owners += [self.by_slug[slug] for slug in route.principal.roles]
        first, last = route.lower.date(), (route.upper - dt.timedelta(microseconds=1)).date()
        calls = [(owner, facts) for owner in owners
                 for facts in self.world.calls_between(VENDOR, owner.slug, first, last)
                 if route.lower <= facts.started_local < route.upper]
        calls.sort(key=lambda item: (item[1].started_local, item[0].number, item[1].index))
        return calls

    def calls(self, route: Route, base_url: str) -> SandboxResponse:
        calls = self.selected(route)
        pages = -(-len(calls) // PAGE_SIZE)
        if route.page >= pages:
            return self.past_end(route)
        chunk = calls[route.page * PAGE_SIZE:(route.page + 1) * PAGE_SIZE]
        rows = [self.call_row(owner, facts, route.page, base_url) for owner, facts in chunk]
        if route.principal.shape == "legacy":
            rows = [v1_row(row, facts.index, self.v1_null_times) for row, (_, facts) in
                    zip(rows, chunk, strict=True)]
            return SandboxResponse.json(self.envelope(route, rows, len(calls), pages))
        return SandboxResponse.json(rows)

    @staticmethod
    def past_end(route: Route) -> SandboxResponse:
        signal = NO_ROWS if route.page == 0 else route.principal.past_end
        if signal == "empty":
            return SandboxResponse.json([])
        raise Refusal(signal, 200)  # the end of the data, not a client error

    @staticmethod
    def envelope(route: Route, rows: list[dict[str, Any]], total: int, pages: int
                 ) -> dict[str, Any]:
        payload = rows
        zone = ZoneInfo(route.principal.timezone)
        return {
            "inbound": {
                "requestedType": "json", "requestedEntity": "call",
                "requestedMethod": route.method, "requestedVersion": "v3",
                "requestedParams": {
                    "requirePage": route.page,
                    "startDate": int(route.lower.replace(tzinfo=zone).timestamp()),
                    "endDate": int(route.upper.replace(tzinfo=zone).timestamp()) - 1},
                "pageLength": PAGE_SIZE, "totalLength": total, "ofPages": pages,
                "contentLength": len(json.dumps(payload, ensure_ascii=False).encode()),
            },
            "info": INFO,
            "payload": payload,
        }

    # --- one call, v3 (never null: "", 0, []) ------------------------------------------

    def call_row(self, owner: Principal, f: CallFacts, page: int, base_url: str
                 ) -> dict[str, Any]:
        uid = universal_id(owner, f, self.world)
        zone = ZoneInfo(owner.timezone)
        client_zone = ZoneInfo(CLIENT_ZONES.get(f.city, "Europe/Moscow"))
        local = f.started_local.replace(tzinfo=zone).astimezone(client_zone)
        host = f.landing_url.split("/")[2]
        return {
            "page": page,
            "universalId": uid,
            "serviceType": "callback" if f.is_callback else "calltracking",
            "clientNumber": f.caller_number,
            "managerNumber": f.redirect_number,
            "callerIdToManager": f.tracking_number if not f.is_callback else f.caller_number,
            "callerIdToClient": f.tracking_number,
            "statusFirst": 200,
            "statusSecond": 200 if f.answered else 487,
            "status": "success" if f.answered else "fail",
            "callTime": f.started_local.strftime("%Y-%m-%d %H:%M:%S"),
            "localDate": local.strftime("%Y-%m-%d %H:%M:%S"),
            "timezoneOffset": local.strftime("%z"),
            "duration": f.talk_s,
            "tariffTime": -(-f.talk_s // 60),
            "site": host,
            "recordUrl": f"{base_url}{PREFIX}/records/{uid}.mp3" if f.has_record else "",
            "unique": f.is_unique,
            "target": f.is_target,
            "uniqueTarget": f.is_unique_target,
            **self.visit_fields(f, host),
            **self.callback_fields(f),
            **self.calltracking_fields(f),
            "tags": list(f.tags),
            "hooks": self.hooks(f),
        }

    @staticmethod
    def visit_fields(f: CallFacts, host: str) -> dict[str, Any]:
        def utm(value: str) -> str:
            return "" if value.startswith("<") else value  # World's Calltouch placeholder

        query = f"?utm_source={utm(f.utm_source)}" if utm(f.utm_source) else ""
        return {
            "visitSite": host, "referrer": f.referrer,
            "utm_source": utm(f.utm_source), "utm_medium": utm(f.utm_medium),
            "utm_campaign": utm(f.utm_campaign), "utm_content": utm(f.utm_content),
            "utm_term": utm(f.utm_term),
            "yaClid": f.ya_client_id, "gaClid": f.ga_client_id,
            "roistatClid": str(f.session_id) if f.index % 7 == 0 else "",
            "calltouchClid": "", "comagicClid": "",
            "city": f.city, "region": f.region, "country": f.country, "ipAddress": f.ip,
            "pagesCount": 1 + f.session_id % 9, "entryPoint": f.landing_url,
            "entryPointQuery": f.landing_url + query, "callPage": f.landing_url,
            "counts": 1 + f.session_id % 5,
            "userAgent": f"Mozilla/5.0 ({f.os}) {f.browser}", "device": f.device,
        }

    @staticmethod
    def callback_fields(f: CallFacts) -> dict[str, Any]:
        if not f.is_callback:
            return {"cbWidgetHash": "", "cbToolId": 0, "cbCallId": 0, "cbUid": 0,
                    "cbToolName": "", "cbOfficeNumber": "", "cbOfficeName": "",
                    "cbOrderDate": "", "cbAttempt": 0, "cbAttemptsQueue": [],
                    "cbConnectType": "", "cbSmartCallCount": 0, "cbIvrCount": 0,
                    "cbEventSource": ""}
        attempt = 1 + f.index % 3
        ordered = f.started_local - dt.timedelta(seconds=20 + f.wait_s)
        return {
            "cbWidgetHash": hashlib.md5(f"widget:{f.account}".encode()).hexdigest(),
            "cbToolId": 1000 + f.index % 3, "cbCallId": f.call_id, "cbUid": 1000,
            "cbToolName": "Виджет обратного звонка", "cbOfficeNumber": "0",
            "cbOfficeName": "Moscow office",
            "cbOrderDate": ordered.strftime("%Y-%m-%d %H:%M:%S"),
            "cbAttempt": attempt,
            "cbAttemptsQueue": [f.call_id - n for n in range(attempt - 1, 0, -1)],
            "cbConnectType": ("auto", "smartcall", "dtmf")[f.index % 3],
            "cbSmartCallCount": f.index % 4, "cbIvrCount": f.index % 2,
            "cbEventSource": ("widget", "api", "form", "mobile")[f.index % 4],
        }

    @staticmethod
    def calltracking_fields(f: CallFacts) -> dict[str, Any]:
        if f.is_callback:
            return {"ctCallId": 0, "ctCampaignId": 0, "ctCampaignName": "", "ctIsListened": ""}
        campaign = f.utm_campaign if not f.utm_campaign.startswith("<") else "Основная"
        return {
            "ctCallId": f.call_id, "ctCampaignId": 1000 + stable_int(campaign) % 9000,
            "ctCampaignName": campaign,
            "ctIsListened": ("1" if f.index % 2 else "0") if f.has_record else "",
        }

    @staticmethod
    def hooks(f: CallFacts) -> list[dict[str, Any]]:
        if f.index % 4:
            return []
        return [{"hookEventName": "AFTER_CALL_FINISH", "hookAddress": "https://crm.example.ru/ck",
                 "hookMethod": "POST", "hookResponseStatus": 200}]

    # --- recordings --------------------------------------------------------------------

    def find_call(self, uid: int) -> tuple[Principal, CallFacts] | None:
        owner = self.by_number.get(uid // UID_OWNER)
        if owner is None:
            return None
        offset, index = divmod(uid % UID_OWNER, UID_DAY)
        calls = self.world.calls_on(VENDOR, owner.slug,
                                    self.world.first_day + dt.timedelta(days=offset))
        return (owner, calls[index]) if index < len(calls) else None

    def is_media(self, path: str) -> bool:
        """A recording download (the sandbox's --faults cut these bodies too)."""
        return RECORD_PATH.match(path) is not None

    def recording(self, uid_text: str) -> SandboxResponse:
        found = self.find_call(int(uid_text))
        if found is None or not found[1].has_record:
            return SandboxResponse.html("Not Found", 404)
        owner, facts = found
        body = record_bytes(VENDOR, owner.slug, uid_text, 4096 + facts.talk_s * 16)
        return SandboxResponse(200, body, "audio/mpeg")
