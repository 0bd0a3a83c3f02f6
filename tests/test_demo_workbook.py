"""The demo workbook (`make demo`), read back with openpyxl against the records that went in.

`make demo` runs scripts/demo.py: a default sandbox, then Meltano's `demo` environment of
meltano.yml (`meltano run --full-refresh tap-calltrack target-calltrack-excel`). The
`demo_pipe` fixture makes the same workbook without Meltano: the demo environment's tap and
target config and the plugin's `select` rules, read from meltano.yml, against a default
sandbox, the tap's output kept in a file (the records) and fed to the target. With Meltano
installed, `test_the_demo_itself_makes_the_same_workbook` runs scripts/demo.py itself and
checks its workbook the same way (records from `meltano invoke` of the same tap), and that
it equals the piped one cell for cell.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import yaml
from excel.excel_helpers import report_table
from support import SandboxProcess, console_script, discover, write_json

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
DEMO_WORKBOOK = ROOT / "output" / "calltrack-demo.xlsx"  # where scripts/demo.py writes it
REPORT_SHEETS = ("Summary", "Campaigns", "Funnel", "About")
NOT_SET = "(не указано)"
FUNNEL_TABLE = "Funnel: calls, leads, deals and revenue per month and campaign"
ZONE_HEADER = re.compile(r"(?P<name>.+) \((?P<zone>UTC|[A-Za-z]+(?:/[A-Za-z0-9_+-]+)+)\)")
LOCAL_HEADER = re.compile(r"(?P<name>.+) \(account's local time\)")
Records = dict[str, list[dict[str, Any]]]


class DemoRun:
    """A demo workbook, the records that went into it, and the tap config they came from."""

    def __init__(self, workbook: Path, singer_lines: Path, tap_config: dict[str, Any],
                 sandbox_url: str) -> None:
        self.workbook = workbook
        self.tap_config = tap_config
        self.sandbox_url = sandbox_url
        self.records: Records = {}
        for line in singer_lines.read_text().splitlines():
            message = json.loads(line) if line.startswith("{") else {}
            if message.get("type") == "RECORD":
                self.records.setdefault(message["stream"], []).append(message["record"])


# --- the demo's configuration, as Meltano reads it from meltano.yml -------------------------

def _expand(value: Any, variables: dict[str, str]) -> Any:
    """Meltano's ${VAR} expansion in config values."""
    if isinstance(value, str):
        return re.sub(r"\$\{(\w+)\}", lambda m: variables[m.group(1)], value)
    if isinstance(value, dict):
        return {key: _expand(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, variables) for item in value]
    return value


def demo_config(sandbox_url: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The demo environment's tap config, target config, and the tap's select rules."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (demo,) = [env for env in project["environments"] if env["name"] == "demo"]
    variables = {"CALLTRACK_SANDBOX_URL": sandbox_url, "MELTANO_PROJECT_ROOT": str(ROOT)}
    plugins = _expand(demo["config"]["plugins"], variables)
    (tap,) = [p["config"] for p in plugins["extractors"] if p["name"] == "tap-calltrack"]
    (target,) = [p["config"] for p in plugins["loaders"]
                 if p["name"] == "target-calltrack-excel"]
    (extractor,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-calltrack"]
    return tap, target, extractor["select"]


def apply_select(catalog: dict[str, Any], rules: list[str]) -> dict[str, Any]:
    """Meltano's stream selection by `select` rules ("stream.property", "!" excludes)."""
    for entry in catalog["streams"]:
        stream = entry["tap_stream_id"]
        chosen = any(fnmatch.fnmatchcase(stream, rule.split(".")[0])
                     for rule in rules if not rule.startswith("!"))
        chosen = chosen and not any(fnmatch.fnmatchcase(stream, rule[1:].split(".")[0])
                                    for rule in rules if rule.startswith("!"))
        for item in entry["metadata"]:
            if item["breadcrumb"] == [] or chosen:
                item["metadata"]["selected"] = chosen
    return catalog


@pytest.fixture(scope="module")
def demo_pipe(tmp_path_factory) -> DemoRun:
    """The demo workbook made by tap | target with the demo's config, and its records."""
    tmp = tmp_path_factory.mktemp("demo")
    sandbox = SandboxProcess()  # the default seed, as scripts/demo.py starts it
    try:
        tap_config, target_config, rules = demo_config(sandbox.url)
        assert Path(target_config["output_path"]) == DEMO_WORKBOOK
        target_config["output_path"] = str(tmp / DEMO_WORKBOOK.name)
        catalog = apply_select(discover(tap_config, tmp), rules)
        singer_lines = tmp / "tap-output.jsonl"
        with singer_lines.open("w") as out:
            tap = subprocess.run(
                [console_script("tap-calltrack"), "--config",
                 str(write_json(tmp / "tap.json", tap_config)),
                 "--catalog", str(write_json(tmp / "catalog.json", catalog))],
                stdout=out, stderr=subprocess.PIPE, text=True, timeout=900)
    finally:
        sandbox.stop()
    assert tap.returncode == 0, tap.stderr[-3000:]
    with singer_lines.open() as tap_output:
        target = subprocess.run(
            [console_script("target-calltrack-excel"), "--config",
             str(write_json(tmp / "target.json", target_config))],
            stdin=tap_output, capture_output=True, text=True, timeout=900)
    assert target.returncode == 0, target.stderr[-3000:]
    return DemoRun(Path(target_config["output_path"]), singer_lines, tap_config, sandbox.url)


@pytest.fixture(scope="module")
def demo_book(demo_pipe) -> openpyxl.Workbook:
    return openpyxl.load_workbook(demo_pipe.workbook)


# --- reading the workbook back --------------------------------------------------------------

def stream_sheets(book: openpyxl.Workbook) -> dict[str, list[str]]:
    """The workbook's own map of streams to sheets (the About sheet's Stream table)."""
    rows = list(book["About"].values)
    start = next(i for i, row in enumerate(rows) if row and row[0] == "Stream")
    sheets: dict[str, list[str]] = {}
    for row in rows[start + 1:]:
        if not row or row[0] in (None, ""):
            break
        sheets[row[0]] = row[1].split(", ")
    return sheets


def sheet_rows(book: openpyxl.Workbook, names: list[str]) -> tuple[list[str], list[tuple]]:
    """The header and data rows of a stream's sheets, in order."""
    header: list[str] = []
    rows: list[tuple] = []
    for name in names:
        values = list(book[name].values)
        header = list(values[0])
        rows.extend((*row, *[None] * len(header))[: len(header)] for row in values[1:])
    return header, rows


def field(record: dict[str, Any], column: str) -> Any:
    """The record's value of a flattened column (``parent.child``)."""
    value: Any = record
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def instant(text: str) -> dt.datetime:
    """An ISO-8601 instant (no offset = UTC) as an aware UTC date-time."""
    moment = dt.datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)).astimezone(
        dt.timezone.utc)


def naive_in(moment: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """What Excel shows for an instant in ``zone``: naive, to the millisecond."""
    local = moment.astimezone(zone).replace(tzinfo=None)
    return local.replace(microsecond=local.microsecond // 1000 * 1000)


def account_zones(run: DemoRun) -> dict[tuple[str, str], ZoneInfo]:
    """The account zones the run names, by (vendor, account): Calltouch sites by site_id and
    CallKeeper accounts by label from the config, Comagic apps from comagic_account."""
    config = run.tap_config
    zones = {("calltouch", str(site["site_id"])): ZoneInfo(site["timezone"])
             for site in config["calltouch"]["sites"] if "timezone" in site}
    zones.update({("callkeeper", account["name"]): ZoneInfo(account["timezone"])
                  for account in config["callkeeper"]["accounts"]
                  if "timezone" in account and "name" in account})
    zones.update({("comagic", str(account["app_id"])): ZoneInfo(account["timezone"])
                  for account in run.records["comagic_account"] if account.get("timezone")})
    return zones


ACCOUNT_FIELDS = {"calltouch": "site_id", "comagic": "app_id", "callkeeper": "account"}


def account_of(stream: str, record: dict[str, Any]) -> tuple[str, str]:
    vendor = stream.split("_")[0]
    return vendor, str(record.get(ACCOUNT_FIELDS.get(vendor, "account")))


# --- the checks, shared by the piped and the Meltano workbook -------------------------------

def check_time_columns(book: openpyxl.Workbook, run: DemoRun) -> Counter[str]:
    """Every *_utc cell is the record's UTC instant; every zone-named column the instant in
    that zone; every account-local column its UTC partner in the account's zone. Returns the
    number of cells checked per kind."""
    checked: Counter[str] = Counter()
    zones = account_zones(run)
    for stream, names in stream_sheets(book).items():
        header, rows = sheet_rows(book, names)
        records = run.records.get(stream, [])
        assert len(rows) == len(records), stream
        for row, record in zip(rows, records, strict=True):
            for column, cell in zip(header, row, strict=True):
                checked[check_time_cell(stream, column, cell, record, zones)] += 1
    checked.pop("", None)
    return checked


def check_time_cell(stream: str, column: str, cell: Any, record: dict[str, Any],
                    zones: dict[tuple[str, str], ZoneInfo]) -> str:
    """Checks one cell if it is a time column; returns what kind it was ("" if none)."""
    where = (stream, column, record)
    if column.endswith("_utc"):
        value = field(record, column)
        assert cell == (None if value is None else naive_in(instant(value), dt.timezone.utc)), where
        return "" if value is None else "utc"
    if match := ZONE_HEADER.fullmatch(column):
        value = field(record, match["name"])
        zone = ZoneInfo(match["zone"])
        assert cell == (None if value is None else naive_in(instant(value), zone)), where
        return "" if value is None else "zone-named"
    if match := LOCAL_HEADER.fullmatch(column):
        return check_local_cell(stream, match["name"], cell, record, zones)
    return ""


# The UTC partner of a vendor's local-time text, as docs/excel.md ("Local times") names it.
LOCAL_PARTNERS = {"dateStr": "date_utc", "callTime": "call_time_utc", "orderDate": "date_utc"}


def check_local_cell(stream: str, name: str, cell: Any, record: dict[str, Any],
                     zones: dict[tuple[str, str], ZoneInfo]) -> str:
    where = (stream, name, record)
    partner = field(record, LOCAL_PARTNERS.get(name.rsplit(".", 1)[-1], f"{name}_utc"))
    if field(record, name) in (None, "") or partner is None:
        return ""
    assert isinstance(cell, dt.datetime), where  # the vendor's text, read as a date-time
    utc = instant(partner)
    zone = zones.get(account_of(stream, record))
    if zone is not None:
        assert cell == naive_in(utc, zone).replace(microsecond=0), where
        return "account-local, zone known"
    offset = (cell - naive_in(utc, dt.timezone.utc)).total_seconds()
    assert abs(offset) <= 14 * 3600 and round(offset) % 900 == 0, where  # a real zone offset
    return "account-local"


def check_chart_anchors(book: openpyxl.Workbook) -> None:
    (chart,) = book["Summary"]._charts
    anchor = chart.anchor._from  # zero-based: column A, row 5, under the title block
    assert (anchor.col, anchor.row) == (0, 4)
    for name in REPORT_SHEETS:
        for chart in book[name]._charts:
            assert chart.anchor._from.col <= 2 and chart.anchor._from.row <= 5, name


def check_print_setup(book: openpyxl.Workbook) -> None:
    for name in REPORT_SHEETS:
        ws = book[name]
        assert ws.page_setup.orientation == "landscape", name
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0), name
        assert ws.sheet_properties.pageSetUpPr.fitToPage, name
        assert re.fullmatch(r"\$?1:\$?[36]", ws.print_title_rows or ""), (name, ws.print_title_rows)


def check_tables_read_in_print(book: openpyxl.Workbook) -> None:
    """Count headers over their right-aligned numbers, days and months under their header,
    and the Funnel's Revenue column wide enough for its total."""
    for name, title in (("Summary", "Calls per day, all accounts"), ("Funnel", FUNNEL_TABLE)):
        ws = book[name]
        start = next(row[0].row for row in ws.iter_rows(min_col=1, max_col=1)
                     if row[0].value == title)
        header = [cell for cell in ws[start + 1] if cell.value is not None]
        first = ws[start + 2]
        labels = 1 if name == "Summary" else 4
        assert all(cell.alignment.horizontal == "right" for cell in header[labels:]), name
        assert first[0].alignment.horizontal == "left", name
    funnel = book["Funnel"]
    total = next(row for row in funnel.iter_rows() if row[0].value == "Total")
    revenue = f"{total[8].value:,.2f}"
    assert funnel.column_dimensions["I"].width >= len(revenue) + 2


def label(value: Any) -> str:
    return NOT_SET if value is None or (isinstance(value, str) and not value.strip()) else value


def check_campaign_labels(book: openpyxl.Workbook, records: Records) -> None:
    """Campaigns: calls per source, medium and campaign as the calls stream has them, a
    blank one labelled."""
    rows = [list(row) for row in book["Campaigns"].values]
    header, body, total = report_table(rows, "Calls per day and campaign")
    assert header[:5] == ["Day", "Source", "Medium", "Campaign", "All calls"]
    on_sheet: Counter[tuple] = Counter()
    for row in body:
        assert None not in row[1:4] and "" not in row[1:4], row
        on_sheet[tuple(row[1:4])] += row[4]
    expected = Counter(tuple(label(call.get(name)) for name in ("source", "medium", "utm_campaign"))
                       for call in records["calls"])
    assert on_sheet == expected
    assert total[4] == len(records["calls"])
    assert any(NOT_SET in key for key in expected)  # the demo has unlabelled calls


def check_funnel(book: openpyxl.Workbook, records: Records) -> None:
    """Funnel totals against sums over the stream records; every label filled in."""
    rows = [list(row) for row in book["Funnel"].values]
    header, body, total = report_table(rows, FUNNEL_TABLE)
    assert header == ["Month", "Source", "Medium", "Campaign", "Calls", "Unique-target calls",
                      "Leads", "Deals", "Revenue"]
    assert all(None not in row[1:4] and "" not in row[1:4] for row in body)
    assert any(NOT_SET in row[1:4] for row in body)
    deals = [deal for deal in records["calltouch_orders"] if deal.get("isDeleted") is not True]
    sales = [call for call in records["comagic_calls"]
             if call.get("sale_cost") is not None or (call.get("sale_date") or "").strip()]
    calls = records["calls"]
    revenue = sum(deal.get("completedAmount") or 0 for deal in deals) + sum(
        call.get("sale_cost") or 0 for call in sales)
    expected = [len(calls), sum(call["is_unique_target"] is True for call in calls),
                len(records["calltouch_requests"]), len(deals) + len(sales), revenue]
    assert total[4:8] == expected[:4] and total[8] == pytest.approx(revenue)
    assert all(expected) and deals and sales  # every measure is exercised by the demo
    assert [sum(row[i] for row in body) for i in range(4, 9)] == pytest.approx(expected)


def check_demo_workbook(book: openpyxl.Workbook, run: DemoRun) -> None:
    checked = check_time_columns(book, run)
    assert checked["utc"] > 1000 and checked["zone-named"] > 1000, checked
    assert checked["account-local, zone known"] > 1000, checked
    check_chart_anchors(book)
    check_print_setup(book)
    check_tables_read_in_print(book)
    check_campaign_labels(book, run.records)
    check_funnel(book, run.records)


# --- the tests -----------------------------------------------------------------------------

def test_demo_time_columns_show_what_their_headers_say(demo_book, demo_pipe):
    checked = check_time_columns(demo_book, demo_pipe)
    assert checked["utc"] > 1000 and checked["zone-named"] > 1000, checked
    assert checked["account-local, zone known"] > 1000, checked
    streams = {stream for stream, records in demo_pipe.records.items()
               if any(key.endswith("_utc") for key in records[0])}
    assert {"calltouch_calls", "comagic_calls", "callkeeper_calls"} <= streams
    assert streams <= set(stream_sheets(demo_book))  # every stream with a UTC field was read


def test_demo_report_sheets_are_ready_to_print(demo_book):
    check_chart_anchors(demo_book)
    check_print_setup(demo_book)
    check_tables_read_in_print(demo_book)


def test_demo_blank_campaigns_are_labelled(demo_book, demo_pipe):
    check_campaign_labels(demo_book, demo_pipe.records)


def test_demo_funnel_totals_agree_with_the_streams(demo_book, demo_pipe):
    check_funnel(demo_book, demo_pipe.records)


@pytest.mark.meltano
def test_the_demo_itself_makes_the_same_workbook(demo_pipe, demo_book, tmp_path):
    # As tests/test_meltano.py finds it (not imported: it skips its whole module without it).
    meltano = os.environ.get("CALLTRACK_MELTANO", str(ROOT / ".venv-meltano" / "bin" / "meltano"))
    if not Path(meltano).exists():
        if os.environ.get("CALLTRACK_REQUIRE_MELTANO"):
            pytest.fail(f"meltano is required but missing at {meltano}")
        pytest.skip("meltano is not installed (run `make test`)")
    demo = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--meltano",
                           meltano], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert demo.returncode == 0, demo.stderr[-3000:]
    # The records: the same tap, config and selection, through Meltano, to a file.
    sandbox = SandboxProcess()
    try:
        with (tmp_path / "tap-output.jsonl").open("w") as out:
            tap = subprocess.run(
                [meltano, "--environment", "demo", "invoke", "tap-calltrack"], cwd=ROOT,
                stdout=out, stderr=subprocess.PIPE, text=True, timeout=900,
                env={**os.environ, "CALLTRACK_SANDBOX_URL": sandbox.url,
                     "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"})
        tap_config = demo_config(sandbox.url)[0]
    finally:
        sandbox.stop()
    assert tap.returncode == 0, tap.stderr[-3000:]
    run = DemoRun(DEMO_WORKBOOK, tmp_path / "tap-output.jsonl", tap_config, sandbox.url)
    book = openpyxl.load_workbook(DEMO_WORKBOOK)
    check_demo_workbook(book, run)
    # Equal but for the sandboxes' addresses in recording URLs.
    demo_url = re.search(r"calltrack-sandbox at (\S+)", demo.stdout)[1]
    assert without(run.records, sandbox.url) == without(demo_pipe.records, demo_pipe.sandbox_url)
    assert book.sheetnames == demo_book.sheetnames
    for name in demo_book.sheetnames:
        if name != "About":  # it says when the workbook was made
            assert (without(list(book[name].values), demo_url)
                    == without(list(demo_book[name].values), demo_pipe.sandbox_url)), name


def without(values: Any, url: str) -> Any:
    """``values`` with the sandbox address ``url`` in every text replaced by a placeholder."""
    if isinstance(values, str):
        return values.replace(url, "<sandbox>")
    if isinstance(values, dict):
        return {key: without(value, url) for key, value in values.items()}
    if isinstance(values, list | tuple):
        return [without(value, url) for value in values]
    return values
