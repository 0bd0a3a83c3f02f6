"""The baseline of bench_throughput: the same pages with requests, printed as RECORDs.

What a hand-written script does: one request after another, json.loads, one
``json.dumps`` RECORD line per record, no state, no throttle, no retries.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import requests

FLAGS = {flag: "true" for flag in ("withCallTags", "withComments", "withOrders", "withMapVisits",
                                   "withYandexDirect", "withGoogleAdwords")}


def main(config_path: str, window_days: int) -> None:
    config = json.loads(Path(config_path).read_text())
    section = config["calltouch"]
    first = dt.date.fromisoformat(config["start_date"])
    last = dt.date.fromisoformat(config["end_date"])
    session = requests.Session()
    out = sys.stdout
    for site in section["sites"]:
        url = f"{section['api_url']}/calls-service/RestAPI/{site['site_id']}/calls-diary/calls"
        day = first
        while day <= last:
            window_end = min(day + dt.timedelta(days=window_days - 1), last)
            page, total = 1, 1
            while page <= total:
                body = session.get(url, params={
                    "clientApiId": site["api_token"], "dateFrom": day.strftime("%d/%m/%Y"),
                    "dateTo": window_end.strftime("%d/%m/%Y"), "page": page, "limit": 1000,
                    **FLAGS}).json()
                for record in body["records"]:
                    out.write(json.dumps({"type": "RECORD", "stream": "calltouch_calls",
                                          "record": record}) + "\n")
                total = body["pageTotal"] if body["records"] else 0
                page += 1
            day = window_end + dt.timedelta(days=1)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
