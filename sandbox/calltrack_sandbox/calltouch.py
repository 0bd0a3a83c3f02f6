"""Emulated Calltouch RestAPI: calls journal, leads, deals, statistics, record downloads.

Behaviour follows ../shared/vendor-docs (NOTES.md section 1): dd/mm/yyyy for calls, deals
and statistics but mm/dd/yyyy for leads; the calls journal answers a bare array for a
single day without ``page`` and the paged object with it; deals need ``page`` for ranges
over a day and return only API-made deals unless ``withAllOrderOrigins=true``; statistics
authenticate with ``access_token``. The vendor's value quirks are reproduced: ids as
strings now and then, flags as "true"/"True" strings, placeholders for empty UTMs.

The vendor does not document its error bodies; this emulator answers errors the way a
Spring service does (``{"timestamp", "status", "error", "message", "path"}``), 401 for an
unknown token, 403 for a token without rights on the site, 404 for an unknown site, 400 for
bad parameters, 429 above the request ceiling. A spent daily points budget is answered
with 403 and a message naming the points limit (an assumption, see README).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import re
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from calltrack_sandbox.protocol import SandboxOptions, SandboxRequest, SandboxResponse
from calltrack_sandbox.world import CallFacts, World, record_bytes, stable_int

PREFIX = "/calltouch"
BASE = "/calls-service/RestAPI"
TIMEZONES = ["Europe/Moscow", "Asia/Yekaterinburg", "Europe/Moscow", "Europe/Samara"]
QUOTA_MESSAGE = "Превышен суточный лимит баллов API (API points limit exceeded)"
CALLS_PATH = re.compile(rf"^{BASE}/(\d+)/calls-diary/calls/?$")
DOWNLOAD_PATH = re.compile(rf"^{BASE}/(\d+)/calls-diary/calls/(\d+)/download/?$")
ORDERS_PATH = re.compile(rf"^{BASE}/(\d+)/orders-diary/orders/?$")
STATS_PATH = re.compile(
    rf"^{BASE}/statistics/(\d+)/calls/(total-count|count-by-date|seo/count-by-date|"
    rf"seo/count-by-keywords)/?$")
REQUESTS_PATH = re.compile(rf"^{BASE}/requests/?$")
NODE_PATH = re.compile(rf"^{BASE}/(\d+)/getnodeid/?$")


def flags_read(request: SandboxRequest, strict: bool) -> SandboxRequest:
    """Flags (``with*``, ``*Only``, ``withAllOrderOrigins``) as the handlers read them.
    The docs show ``true``; Airbyte's source-calltouch sends Python's ``True``; the API's
    Spring backend parses booleans case-insensitively, so both count unless the quirk
    ``calltouch-strict-flags`` is on (docs/fidelity.md)."""
    if strict:
        return request
    query = {key: value.lower() if is_flag(key) and value.lower() in ("true", "false")
             else value for key, value in request.query.items()}
    return replace(request, query=query)


def is_flag(name: str) -> bool:
    return name.startswith("with") or name.endswith("Only")


@dataclass(frozen=True)
class Site:
    site_id: int
    token: str
    timezone: str
    name: str
    legacy_stats: bool  # the old statistics endpoints answer (False: 404 HTML)


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def make_sites(options: SandboxOptions) -> list[Site]:
    sites = []
    for index in range(options.accounts):
        site_id = 41_100 + index * 7
        digest = hashlib.sha256(f"calltouch:{options.seed}:{site_id}".encode()).digest()
        token = base64.b64encode(digest).decode()[:43].replace("+", ".")
        sites.append(Site(site_id, token, TIMEZONES[index % len(TIMEZONES)],
                          f"Окна-{index + 1}", legacy_stats=index != 2))
    return sites


def ct_date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def ct_datetime(moment: dt.datetime) -> str:
    return moment.strftime("%d/%m/%Y %H:%M:%S")


def flag(value: bool, facts: CallFacts, salt: int) -> bool | str:
    """The vendor's flags are JSON booleans, except now and then a string."""
    quirk = (facts.index + salt) % 23
    if quirk == 5:
        return "true" if value else "false"
    if quirk == 11:
        return "True" if value else "False"
    return value


def call_id_value(facts: CallFacts) -> int | str:
    return str(facts.call_id) if facts.index % 17 == 3 else facts.call_id


def add_ad_platforms(record: dict[str, Any], f: CallFacts, query: dict[str, str]) -> None:
    """``yandexDirect``/``googleAdWords``: absent unless asked, null without data (doc 003)."""
    if query.get("withYandexDirect") == "true":
        a, b, c, d = f.direct_ids
        record["yandexDirect"] = {"campaignId": a, "adGroupId": b, "adId": c,
                                  "criteriaId": d} if f.source == "yandex" else None
    if query.get("withGoogleAdwords") == "true":
        a, b, c, d = f.google_ids
        record["googleAdWords"] = {"campaignId": a, "adGroupId": b, "creativeId": c,
                                   "criteriaId": d} if f.source == "google" else None


def map_visit(f: CallFacts) -> dict[str, Any]:
    """A visit of ``mapVisits`` with the members public clients declare (the Go SDK's
    MapVisits, Airbyte's schema; docs/fidelity.md)."""
    global_id = zlib.crc32(f.caller_number.encode()) * 7 % 10**10
    return {"sessionId": f.session_id, "sessionDate": ct_datetime(f.session_local),
            "source": f.source, "medium": f.medium, "keyword": f.keyword,
            "utmSource": f.utm_source, "utmMedium": f.utm_medium,
            "utmCampaign": f.utm_campaign, "utmContent": f.utm_content,
            "utmTerm": f.utm_term, "city": f.city, "url": f.landing_url, "ref": f.referrer,
            "ip": f.ip, "userAgent": f"Mozilla/5.0 ({f.os}) {f.browser}",
            "guaClientId": f.ga_client_id, "additionalTags": [],
            "ctClientId": zlib.crc32(f.caller_number.encode()) % 10**9,
            "ctGlobalId": global_id}


class CalltouchApp:
    prefix = PREFIX

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.world: World = options.world
        self.sites = {site.site_id: site for site in make_sites(options)}
        self.tokens = {site.token: site for site in self.sites.values()}
        self.points: Counter[int] = Counter()

    # --- sandbox protocol --------------------------------------------------------------

    def tap_config(self, base_url: str) -> dict[str, Any]:
        return {"calltouch": {
            "api_url": base_url + PREFIX,
            "sites": [{"site_id": s.site_id, "api_token": s.token, "timezone": s.timezone,
                       "name": s.name} for s in self.sites.values()],
        }}

    def too_many_requests(self, retry_after: str) -> SandboxResponse:
        response = self.error(429, "Too Many Requests", "/")
        response.headers["Retry-After"] = retry_after
        return response

    def error(self, status: int, message: str, path: str) -> SandboxResponse:
        reasons = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                   404: "Not Found", 429: "Too Many Requests"}
        return SandboxResponse.json({
            "timestamp": "2024-01-01T00:00:00.000+00:00", "status": status,
            "error": reasons.get(status, "Error"), "message": message,
            "path": f"/calls-service{path.split('/calls-service', 1)[-1]}",
        }, status)

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        request = flags_read(request, "calltouch-strict-flags" in self.options.quirks)
        # handlers take the request, then the path's groups (a different count for each)
        routes: list[tuple[re.Pattern[str], Callable[..., SandboxResponse]]] = [
            (NODE_PATH, self.node_id),
            (DOWNLOAD_PATH, self.download), (CALLS_PATH, self.calls),
            (ORDERS_PATH, self.orders), (STATS_PATH, self.statistics),
            (REQUESTS_PATH, self.requests),
        ]
        for pattern, handler in routes:
            match = pattern.match(request.path)
            if match:
                try:
                    return handler(request, *match.groups())
                except BadRequest as exc:
                    return self.error(exc.status, str(exc), request.path)
        # Unknown paths answer the help centre's HTML page, as the vendor does.
        return SandboxResponse.html("Calltouch — Центр поддержки", 200)

    def node_id(self, request: SandboxRequest, site_id: str) -> SandboxResponse:
        """The legacy API-node lookup, without auth: ``{"nodeId": N}`` (hexeh/CalltouchAPI,
        the CalltouchGrabber client: NOTES 1.1); an unknown site is a 404."""
        if int(site_id) not in self.sites:
            return self.error(404, "Site not found", request.path)
        return SandboxResponse.json({"nodeId": 1})

    # --- auth and parameters -----------------------------------------------------------

    def site_for(self, site_id: str | int | None, token: str | None) -> Site:
        site = self.tokens.get(token or "")
        if site is None:
            raise BadRequest(401, "Invalid or missing API token")
        wanted = int(site_id) if site_id not in (None, "") else site.site_id
        if wanted not in self.sites:
            raise BadRequest(404, f"Site {wanted} not found")
        if wanted != site.site_id:
            raise BadRequest(403, f"No access to site {wanted}")
        if self.options.calltouch_points and self.points[wanted] >= self.options.calltouch_points:
            raise BadRequest(403, QUOTA_MESSAGE)
        self.points[wanted] += 1
        return self.sites[wanted]

    @staticmethod
    def parse_date(value: str | None, name: str, fmt: str, shown: str) -> dt.date:
        if not value:
            raise BadRequest(400, f"Parameter {name} is required")
        try:
            if not re.fullmatch(r"\d{2}/\d{2}/\d{4}", value):
                raise ValueError
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            raise BadRequest(400, f"Invalid {name}: expected format {shown}") from None

    def date_range(self, query: dict[str, str], fmt: str, shown: str) -> tuple[dt.date, dt.date]:
        first = self.parse_date(query.get("dateFrom"), "dateFrom", fmt, shown)
        last = self.parse_date(query.get("dateTo"), "dateTo", fmt, shown)
        if last < first:
            raise BadRequest(400, "dateFrom must be less than dateTo")
        return first, last

    @staticmethod
    def paging(query: dict[str, str]) -> tuple[int, int] | None:
        if "page" not in query:
            return None
        try:
            page, limit = int(query["page"]), int(query.get("limit", "1000"))
        except ValueError:
            raise BadRequest(400, "page and limit must be integers") from None
        if page < 1 or not 1 <= limit <= 1000:
            raise BadRequest(400, "page must be >= 1 and limit between 1 and 1000")
        return page, limit

    @staticmethod
    def paged(items: list[Any], page: int, limit: int,
              render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """The paged envelope; only the requested page's items are rendered."""
        total = len(items)
        return {"page": page, "pageTotal": -(-total // limit), "pageSize": limit,
                "recordsTotal": total,
                "records": [render(item) for item in items[(page - 1) * limit: page * limit]]}

    # --- calls journal -----------------------------------------------------------------

    def calls(self, request: SandboxRequest, site_id: str) -> SandboxResponse:
        query = request.query
        site = self.site_for(site_id, query.get("clientApiId"))
        first, last = self.date_range(query, "%d/%m/%Y", "dd/mm/yyyy")
        paging = self.paging(query)
        if paging is None and first != last:
            raise BadRequest(400, "Without page and limit calls can be selected for one day only")
        calls = self.selected_calls(site, first, last, query)
        def render(facts: CallFacts) -> dict[str, Any]:
            return self.call_record(site, facts, query)

        if paging is None:
            return SandboxResponse.json([render(facts) for facts in calls])
        return SandboxResponse.json(self.paged(calls, *paging, render=render))

    def selected_calls(self, site: Site, first: dt.date, last: dt.date,
                       query: dict[str, str]) -> list[CallFacts]:
        filters = tuple(query.get(name) for name in ("bindTo", "targetOnly", "uniqueOnly",
                                                     "uniqTargetOnly", "callbackOnly"))
        return self._selected_calls(site, first, last, filters)

    @functools.lru_cache(maxsize=16)  # noqa: B019 - one app per server, pages of a window
    def _selected_calls(self, site: Site, first: dt.date, last: dt.date,
                        filters: tuple[str | None, ...]) -> list[CallFacts]:
        query = dict(zip(("bindTo", "targetOnly", "uniqueOnly", "uniqTargetOnly",
                          "callbackOnly"), filters, strict=True))
        by_session = query.get("bindTo") == "session"
        pool = self.world.calls_between("calltouch", str(site.site_id),
                                        first - dt.timedelta(days=1) if by_session else first,
                                        last + dt.timedelta(days=1) if by_session else last)
        flag_attrs = {"targetOnly": "is_target", "uniqueOnly": "is_unique",
                      "uniqTargetOnly": "is_unique_target", "callbackOnly": "is_callback"}
        wanted = [attr for name, attr in flag_attrs.items() if query.get(name) == "true"]

        def keep(facts: CallFacts) -> bool:
            moment = facts.session_local if by_session else facts.started_local
            return first <= moment.date() <= last and all(getattr(facts, a) for a in wanted)

        return [facts for facts in pool if keep(facts)]

    def call_record(self, site: Site, f: CallFacts, query: dict[str, str]) -> dict[str, Any]:
        attribution = int(query.get("attribution", "1") or 1)
        direct = attribution == 0 and f.index % 5 == 0
        utm = {
            "utmSource": "<не указано>" if direct else f.utm_source,
            "utmMedium": "<не указано>" if direct else f.utm_medium,
            "utmCampaign": "<не указано>" if direct else f.utm_campaign,
            "utmContent": "<не указано>" if direct else f.utm_content,
            "utmTerm": "<не указано>" if direct else f.utm_term,
        }
        local = ZoneInfo(site.timezone)
        record: dict[str, Any] = {
            "callId": call_id_value(f),
            "date": ct_datetime(f.started_local),
            "timestamp": int(f.started_local.replace(tzinfo=local).timestamp()),
            "sessionDate": ct_datetime(f.session_local),
            "duration": float(f.duration_s) if f.index % 19 == 7 else f.duration_s,
            "waitingConnect": f.wait_s,
            "callerNumber": f.caller_number,
            "phoneNumber": f.tracking_number,
            "redirectNumber": f.redirect_number,
            "successful": flag(f.answered, f, 0),
            "uniqueCall": flag(f.is_unique, f, 1),
            "targetCall": flag(f.is_target, f, 2),
            "uniqTargetCall": flag(f.is_unique_target, f, 3),
            "callbackCall": flag(f.is_callback, f, 4),
            "callphase": "calldisconnected" if f.answered else "callbusy",
            "statusDetails": "Успешный звонок" if f.answered else "Не дозвонились",
            "attribution": attribution,
            "source": "(direct)" if direct else f.source,
            "medium": "(none)" if direct else f.medium,
            "keyword": "(not set)" if direct else f.keyword,
            "city": f.city,
            "url": f.landing_url,
            "callUrl": f.landing_url,
            "ref": f.referrer,
            "hostname": f.landing_url.split("/")[2],
            **utm,
            "sessionId": f.session_id if f.index % 11 else str(f.session_id),
            "ctCallerId": f"ct-{f.session_id}",
            "clientId": f.ga_client_id if f.index % 3 else None,
            "yaClientId": f.ya_client_id if f.index % 4 else None,
            "ctClientId": zlib.crc32(f.caller_number.encode()) % 10**9,
            "ctGlobalId": zlib.crc32(f.caller_number.encode()) * 7 % 10**10,
            "sipCallId": f"{f.call_id:x}@sip.calltouch.ru",
            "callReferenceId": f"ref-{f.call_id}",
            "callClientUniqueId": f"cu-{f.session_id}",
            "userAgent": f"Mozilla/5.0 ({f.os}) {f.browser}",
            "ip": f.ip,
            "device": f.device,
            "os": f.os,
            "browser": f.browser,
            "manager": f.manager or None,
            "siteId": site.site_id,
            "siteName": site.name,
            "subPoolName": "Динамический пул",
            "poolType": "DYNAMIC",
            "additionalTags": [{"name": "region", "value": f.region}] if f.index % 6 == 0 else [],
            "attrs": {"landing": "main"} if f.index % 9 == 0 else None,
            "dcm": {"status": "SENT"} if f.index % 31 == 0 else None,
            "phonesInText": None,
            "callbackInfo": None if not f.is_callback else {
                "callbackRequestId": f.call_id + 7, "callbackFinalAttempt": True,
                "facebookLeadgenId": None, "leadId": None, "adId": None,
                "fields": [{"name": "Имя", "value": "Клиент"}], "leadsCampaignName": None},
        }
        self.add_call_enrichments(record, f, query)
        return record

    def add_call_enrichments(self, record: dict[str, Any], f: CallFacts,
                             query: dict[str, str]) -> None:
        if query.get("withCallTags") == "true":
            record["callTags"] = [{"category": "", "type": "MANUAL", "names": list(f.tags)}
                                  ] if f.tags else []
        if query.get("withComments") == "true":
            record["comments"] = [
                {"commentId": f.call_id + i, "callId": f.call_id, "comment": text,
                 "partyId": 19688, "partyName": "API"} for i, text in enumerate(f.comments)]
        if query.get("withOrders") == "true":
            record["orders"] = [] if f.index % 4 else [{
                "orderId": f.call_id + 500, "orderNumber": f"CRM-{f.call_id}",
                "plannedAmount": 15000, "completedAmount": None,
                "orderDate": ct_datetime(f.started_local), "createdDate": ct_date(f.day),
                "completedDate": None}]
        if query.get("withMapVisits") == "true":
            record["mapVisits"] = [map_visit(f)]
        add_ad_platforms(record, f, query)

    # --- record download ---------------------------------------------------------------

    def is_media(self, path: str) -> bool:
        """A recording download (the sandbox's --faults cut these bodies too)."""
        return DOWNLOAD_PATH.match(path) is not None

    def download(self, request: SandboxRequest, site_id: str, call_id: str) -> SandboxResponse:
        site = self.site_for(site_id, request.query.get("clientApiId"))
        facts = self.find_call(site, int(call_id))
        if facts is None or not facts.has_record:
            raise BadRequest(404, f"Record of call {call_id} not found")
        body = record_bytes("calltouch", str(site.site_id), facts.call_id,
                            4096 + facts.talk_s * 16)
        return SandboxResponse(200, body, "audio/mpeg")

    def find_call(self, site: Site, call_id: int) -> CallFacts | None:
        offset = call_id - 100_000_000 - stable_int(self.world.seed, "calltouch",
                                                    str(site.site_id)) % 800_000_000
        if offset < 0:
            return None
        day = self.world.first_day + dt.timedelta(days=offset // 10_000)
        calls = self.world.calls_on("calltouch", str(site.site_id), day)
        index = offset % 10_000
        return calls[index] if index < len(calls) else None

    # --- leads ---------------------------------------------------------------------------

    def requests(self, request: SandboxRequest) -> SandboxResponse:
        query = request.query
        site = self.site_for(query.get("siteId"), query.get("clientApiId"))
        first, last = self.date_range(query, "%m/%d/%Y", "mm/dd/yyyy")
        leads = self.world.calls_between("calltouch-leads", str(site.site_id), first, last)
        return SandboxResponse.json([self.lead_record(site, f, query) for f in leads])

    def lead_record(self, site: Site, f: CallFacts, query: dict[str, str]) -> dict[str, Any]:
        local = ZoneInfo(site.timezone)
        created = f.started_local.replace(tzinfo=local)
        record: dict[str, Any] = {
            "date": int(created.timestamp() * 1000),
            "dateStr": ct_datetime(f.started_local),
            "requestId": f.call_id,
            "requestNumber": str(f.call_id) if f.index % 5 else f"web-{f.call_id}",
            "requestType": "CLIENT_ORDER" if f.index % 3 else "CALLBACK",
            "requestUrl": f.landing_url,
            "subject": "Заявка на замер" if f.index % 2 else "Заявка на звонок",
            "status": "NOT_SET",
            "manager": f.manager or None,
            "uniqueRequest": flag(f.is_unique, f, 1),
            "targetRequest": flag(f.is_target, f, 2),
            "uniqTargetRequest": flag(f.is_unique_target, f, 3),
            "comments": [{"commentId": f.call_id + 1, "requestId": f.call_id,
                          "comment": c, "partyId": 19688, "partyName": "API"}
                         for c in f.comments],
            "session": None if f.index % 10 == 9 else {
                "sessionId": f.session_id, "source": f.source, "medium": f.medium,
                "keywords": f.keyword, "utmSource": f.utm_source, "utmMedium": f.utm_medium,
                "utmCampaign": f.utm_campaign, "utmContent": f.utm_content,
                "utmTerm": f.utm_term, "city": f.city, "ip": f"{f.ip}/32",
                "browser": f.browser, "ref": f.referrer, "url": f.landing_url,
                "guaClientId": None, "yaClientId": f.ya_client_id, "attribution": 1,
                "attrs": None, "additionalTags": [], "device": f.device, "os": f.os,
                "sessionDate": ct_datetime(f.session_local),
                "ctGlobalId": zlib.crc32(f.caller_number.encode()) * 7 % 10**10},
            "client": {"clientId": zlib.crc32(f.caller_number.encode()) % 10**7,
                       "fio": "Клиент" if f.index % 2 else None,
                       "phones": [{"phoneNumber": f.caller_number, "phoneType": "OTHER"}],
                       "contacts": [{"contactType": "EMAIL",
                                     "contactValue": f"client{f.index}@example.ru"}]},
            "orders": [],
            "siteId": site.site_id,
            "hostname": f.landing_url.split("/")[2],
            "ctClientId": zlib.crc32(f.caller_number.encode()) % 10**9,
            "ctGlobalId": zlib.crc32(f.caller_number.encode()) * 7 % 10**10,
            "attrs": {"form": "main"} if query.get("withAttrs") == "true" and f.index % 2 else None,
            "dcm": [] if query.get("withDcm") == "true" else None,
        }
        self.add_lead_enrichments(record, f, query)
        return record

    def add_lead_enrichments(self, record: dict[str, Any], f: CallFacts,
                             query: dict[str, str]) -> None:
        if query.get("withRequestTags") == "true":
            record["RequestTags"] = [{"category": "", "type": "AUTO-CT", "names": list(f.tags)}
                                     ] if f.tags else []
        if query.get("withMapVisits") == "true":
            record["mapVisits"] = [map_visit(f)]
        add_ad_platforms(record, f, query)
        if query.get("withWidgetInfo") == "true":
            record["widgetInfo"] = {"fields": [{"name": "name", "value": "Клиент",
                                                "type": "TEXT", "title": "Имя"}]}
        if query.get("withCustomFields") == "true":
            record["customFields"] = [{"field": "Бюджет", "value": str(10000 + f.index)}]

    # --- deals ---------------------------------------------------------------------------

    def orders(self, request: SandboxRequest, site_id: str) -> SandboxResponse:
        query = request.query
        site = self.site_for(site_id, query.get("clientApiId"))
        first, last = self.date_range(query, "%d/%m/%Y", "dd/mm/yyyy")
        paging = self.paging(query)
        if paging is None and first != last:
            raise BadRequest(400, "Parameter page is required for a range over one day")
        all_origins = query.get("withAllOrderOrigins") == "true"
        deals = [f for f in self.world.calls_between("calltouch-deals", str(site.site_id),
                                                     first, last)
                 if all_origins or f.index % 10 == 0]
        def render(facts: CallFacts) -> dict[str, Any]:
            return self.order_record(site, facts, query)

        if paging is None:
            return SandboxResponse.json({"records": [render(f) for f in deals]})
        return SandboxResponse.json(self.paged(deals, *paging, render=render))

    def order_record(self, site: Site, f: CallFacts, query: dict[str, str]) -> dict[str, Any]:
        from_call = f.index % 3 != 2
        visit = None if f.index % 8 == 7 else {
            "source": f.source, "medium": f.medium, "keyword": f.keyword,
            "utmSource": "" if f.utm_source.startswith("<") else f.utm_source,
            "utmMedium": "" if f.utm_medium.startswith("<") else f.utm_medium,
            "utmCampaign": "" if f.utm_campaign.startswith("<") else f.utm_campaign,
            "utmContent": "", "utmTerm": "",
            "visitDate": ct_datetime(f.session_local), "additionalTags": []}
        record: dict[str, Any] = {
            "client": {"phones": f.caller_number, "fio": "Клиент" if f.index % 2 else None},
            "completedAmount": 12000 + f.index * 10 if f.answered else None,
            "completedDate": ct_date(f.day) if f.answered else None,
            "createdDate": ct_date(f.day),
            "isDeleted": f.index % 29 == 28,
            "manager": f.manager or None,
            "orderDate": ct_datetime(f.started_local),
            "orderNumber": f"CRM-{f.call_id}" if f.index % 4 else str(f.call_id),
            "orderSource": {"callId": f.call_id, "duration": f.duration_s,
                            "phoneNumber": f.tracking_number, "type": "CALL",
                            "ani": f.caller_number, "dateCall": ct_datetime(f.started_local)}
            if from_call else {"requestNumber": str(f.call_id), "type": "REQUEST"},
            "orderStatus": "final" if f.answered else "start",
            "plannedAmount": 15000 + f.index * 100,
            "service": "AmoCRM" if f.index % 2 else None,
            "visit": visit,
            "orderOrigin": "api" if f.index % 10 == 0 else "amocrm",
        }
        if f.index % 5 == 0:
            record["custom"] = {"margin": 12345678901234567890123 - f.index}
        if query.get("withOrdersTags") == "true":
            record["tags"] = list(f.tags) or None
        return record

    # --- statistics ----------------------------------------------------------------------

    def statistics(self, request: SandboxRequest, site_id: str, kind: str) -> SandboxResponse:
        site = self.site_for(site_id, request.query.get("access_token"))
        if not site.legacy_stats:
            return SandboxResponse.html("404 Not Found", 404)
        first, last = self.date_range(request.query, "%d/%m/%Y", "dd/mm/yyyy")
        calls = self.world.calls_between("calltouch", str(site.site_id), first, last)
        if kind == "total-count":
            return SandboxResponse.json(len(calls))
        seo = [c for c in calls if c.medium == "organic"]
        if kind == "seo/count-by-keywords":
            return SandboxResponse.json(dict(Counter(c.keyword for c in seo)))
        chosen = seo if kind.startswith("seo/") else calls
        counts = Counter(ct_date(c.day) for c in chosen)
        return SandboxResponse.json(dict(counts))
