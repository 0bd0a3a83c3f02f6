"""A minimal, valid answer for every endpoint of the three vendors, on a FakeVendor.

Each test wraps :class:`World` with its own faults: ``World(faults=fn)`` asks ``fn(request,
kind)`` first, and a Reply it returns wins over the normal answer (``kind`` names the
endpoint: ``calltouch_calls``, ``comagic get.calls_report``, ``callkeeper_calls``...).
One row per request window keeps the runs small and every stream non-empty.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from fake_server import FakeVendor, Reply, Request

START, END = "2024-01-01", "2024-01-06"  # three windows of two days per stream
CT_TOKENS = {41100: "ct-token-a", 52210: "ct-token-b"}
CM_TOKENS = {"cm-token-a": ("Alpha", 101), "cm-token-b": ("Beta", 202)}
CK_KEYS = ("ck1ck1ck1ck1ck1a", "ck2ck2ck2ck2ck2b")
Faults = Callable[[Request, str], Reply | None]


def rpc_result(data: Any, total: int | None = None) -> Reply:
    metadata: dict[str, Any] = {"limits": {"day_limit": 10000, "day_remaining": 9000,
                                           "day_reset": 3600, "minute_limit": 1000,
                                           "minute_remaining": 900, "minute_reset": 30}}
    if total is not None:
        metadata["total_items"] = total
    return Reply(json={"jsonrpc": "2.0", "id": 1, "result": {"data": data,
                                                             "metadata": metadata}})


def rpc_error(mnemonic: str, message: str, code: int = -32602, status: int = 200,
              **data: Any) -> Reply:
    return Reply(status=status, json={"jsonrpc": "2.0", "id": 1, "error": {
        "code": code, "message": message, "data": {"mnemonic": mnemonic, **data}}})


class World:
    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or (lambda request, kind: None)

    def __call__(self, request: Request) -> Reply:
        kind = self.kind(request)
        reply = self.faults(request, kind)
        if reply is not None:
            return reply
        if kind.startswith("calltouch"):
            return self.calltouch(request, kind)
        if kind.startswith("comagic"):
            return self.comagic(request, kind)
        return self.callkeeper(request)

    @staticmethod
    def kind(request: Request) -> str:
        path = request.path
        if path.startswith("/calltouch"):
            for suffix, name in (("/calls-diary/calls", "calltouch_calls"),
                                 ("/requests", "calltouch_requests"),
                                 ("/orders-diary/orders", "calltouch_orders"),
                                 ("count-by-keywords", "calltouch_keywords"),
                                 ("seo/count-by-date", "calltouch_seo_by_date"),
                                 ("count-by-date", "calltouch_by_date"),
                                 ("total-count", "calltouch_total")):
                if path.endswith(suffix):
                    return name
            return "calltouch_unknown"
        if path.startswith("/comagic"):
            return f"comagic {request.json().get('method')}"
        return "callkeeper_calls"

    # --- Calltouch --------------------------------------------------------------------

    def calltouch(self, request: Request, kind: str) -> Reply:
        site = int(re.findall(r"/(\d{5})/", request.path + "/")[0]) if kind not in (
            "calltouch_requests",) else int(request.param("siteId") or 0)
        day = request.param("dateFrom") or "01/01/2024"  # dd/mm/yyyy, as answers use it
        if kind == "calltouch_calls":
            return Reply(json={"page": 1, "pageTotal": 1, "pageSize": 1000, "recordsTotal": 1,
                               "records": [calltouch_call(site, day)]})
        if kind == "calltouch_orders":
            return Reply(json={"page": 1, "pageTotal": 1, "recordsTotal": 1, "records": [
                {"orderNumber": f"o-{site}-{day}", "orderDate": f"{day} 10:00:00"}]})
        if kind == "calltouch_requests":
            first = dt.datetime.strptime(day, "%m/%d/%Y").replace(hour=9)
            return Reply(json=[{"requestId": int(first.strftime("%m%d")) * 10 + site % 7,
                                "date": int(first.timestamp() * 1000)}])
        if kind == "calltouch_total":
            return Reply(json=1)
        if kind in ("calltouch_by_date", "calltouch_seo_by_date"):
            return Reply(json={day: 1})
        if kind == "calltouch_keywords":
            return Reply(json={"окна": 1})
        return Reply(status=404, body="<html>help centre</html>",
                     headers={"Content-Type": "text/html"})

    # --- Comagic ----------------------------------------------------------------------

    def comagic(self, request: Request, kind: str) -> Reply:
        params = request.json().get("params") or {}
        label, app_id = CM_TOKENS.get(params.get("access_token"), ("?", 0))
        method = kind.split(" ", 1)[1]
        if method == "get.account":
            return rpc_result([{"app_id": app_id, "name": label, "timezone": "Europe/Moscow"}])
        if method in ("get.customer_users", "get.tags", "get.campaigns"):
            return rpc_result([], 0)
        if method == "get.sites":
            return rpc_result([{"id": app_id * 10, "domain_name": "example.ru"}], 1)
        if method == "get.campaign_daily_stat":
            return rpc_result([], 0)
        if method.endswith("_report"):
            since = str(params.get("date_from") or "2024-01-01 00:00:00")
            row = {"id": int(since[5:7] + since[8:10]) * 1000 + app_id,
                   "start_time": since, "date_time": since, "communication_type": "call",
                   "communication_id": 7, "call_records": []}
            wanted = set(params.get("fields") or row)
            return rpc_result([{k: v for k, v in row.items() if k in wanted}], 1)
        return rpc_error("method_not_found", "Method not found", -32601)

    # --- CallKeeper -------------------------------------------------------------------

    def callkeeper(self, request: Request) -> Reply:
        route = next(iter(request.query), "")
        parts = route.split("/")  # json/v3/<key>/call/<method>/<page>/<from>/<to>
        key, page, first = parts[2], int(parts[5]), parts[6]
        if page > 0:
            return Reply(json={"inbound": {"error": "No rows found"}})
        return Reply(json=[{"universalId": f"{key[:3]}-{first}", "callTime": f"{first} 11:00:00",
                            "duration": 5, "status": "success"}])


def calltouch_call(site: int, day: str) -> dict[str, Any]:
    number = int(day[:2]) * 100 + int(day[3:5])
    return {"callId": site * 10000 + number, "date": f"{day} 12:00:00", "successful": False,
            "duration": 0, "waitingConnect": 0, "source": "yandex", "medium": "cpc"}


def config(fake: FakeVendor, **overrides: Any) -> dict[str, Any]:
    base = fake.url
    result: dict[str, Any] = {
        "start_date": START, "end_date": END, "lookback_days": 0, "max_tries": 3,
        "request_timeout": 5,
        "calltouch": {"api_url": f"{base}/calltouch", "max_requests_per_second": 500,
                      "calls_window_days": 2, "leads_window_days": 2, "orders_window_days": 2,
                      "stats_window_days": 2,
                      "sites": [{"site_id": site, "api_token": token, "name": f"site{site}"}
                                for site, token in CT_TOKENS.items()]},
        "comagic": {"api_url": f"{base}/comagic/v2.0", "max_requests_per_second": 500,
                    "window_days": 2, "campaign_stat_window_days": 2,
                    "accounts": [{"access_token": token, "name": label}
                                 for token, (label, _) in CM_TOKENS.items()]},
        "callkeeper": {"api_url": f"{base}/callkeeper/", "max_requests_per_second": 500,
                       "calls_window_days": 2,
                       "accounts": [{"api_key": key, "name": f"ck{i}"}
                                    for i, key in enumerate(CK_KEYS)]},
    }
    for key, value in overrides.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = {**result[key], **value}
        else:
            result[key] = value
    return result


def comagic_token(request: Request) -> str | None:
    if not request.path.startswith("/comagic"):
        return None
    return (request.json().get("params") or {}).get("access_token")


def bookmark(state: dict[str, Any], stream: str, context: dict[str, Any]) -> str | None:
    for partition in state.get("bookmarks", {}).get(stream, {}).get("partitions", []):
        if partition["context"] == context:
            return partition.get("replication_key_value")
    return None


def error_lines(stderr: str, *needles: str) -> list[str]:
    """The ERROR lines of a run that contain every needle."""
    return [line for line in stderr.splitlines()
            if "ERROR" in line and all(needle in line for needle in needles)]
