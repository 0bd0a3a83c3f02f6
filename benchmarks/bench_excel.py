"""Throughput and memory of target-calltrack-excel against a bare openpyxl write-only loop.

Both sides run as subprocesses reading the same file of Singer lines, are timed the same
way (wall time of the whole process, start-up included) and alternate, so the machine's
noise hits both. The baseline decodes the lines with msgspec, applies the same type
conversions (date-times to naive local time to the millisecond, arrays to compact JSON)
and appends rows to a write-only sheet; it has none of the target's safety rules,
counters, report sheets or progress lines.

    python benchmarks/bench_excel.py                     # 100,000 rows, 3 rounds
    python benchmarks/bench_excel.py --rows 1000000 --only target   # the memory check
    python benchmarks/bench_excel.py --streams 3          # three interleaved streams

Prints each round's times and ratio (baseline time / target time: 1.0 = as fast as the
bare loop), the median ratio, and each process's peak RSS (from os.wait4).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STRING_COLUMNS = [
    "vendor",
    "account",
    "call_id",
    "caller_number",
    "tracking_number",
    "direction",
    "source",
    "medium",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "keyword",
    "referrer",
    "landing_url",
    "city",
    "region",
    "country",
    "device",
    "record_url",
    "manager",
    "comment",
    "ym_client_id",
]
INT_COLUMNS = ["duration_s", "talk_duration_s", "wait_duration_s", "client_id", "session_id"]
BOOL_COLUMNS = ["answered", "is_unique", "is_target", "is_unique_target", "is_callback"]
NUMBER_COLUMNS = ["cost", "rating"]
DATETIME_COLUMNS = ["started_at", "ended_at"]
DATE_COLUMNS = ["call_date"]
ARRAY_COLUMNS = ["tags"]


def schema_properties() -> dict[str, dict]:
    """40 columns: the unified calls columns and nine more."""
    props: dict[str, dict] = {}
    for name in STRING_COLUMNS:
        props[name] = {"type": ["string", "null"]}
    for name in INT_COLUMNS:
        props[name] = {"type": ["integer", "null"]}
    for name in BOOL_COLUMNS:
        props[name] = {"type": ["boolean", "null"]}
    for name in NUMBER_COLUMNS:
        props[name] = {"type": ["number", "null"]}
    for name in DATETIME_COLUMNS:
        props[name] = {"type": ["string", "null"], "format": "date-time"}
    for name in DATE_COLUMNS:
        props[name] = {"type": ["string", "null"], "format": "date"}
    for name in ARRAY_COLUMNS:
        props[name] = {"type": ["array", "null"], "items": {"type": "string"}}
    assert len(props) == 40
    return props


def make_record(rng: random.Random, i: int) -> dict:
    """A call-like record with realistic lengths."""
    start = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i * 37)
    record: dict = {name: f"{name}-{rng.randrange(10**6)}" for name in STRING_COLUMNS}
    record.update(
        vendor=rng.choice(["calltouch", "comagic", "callkeeper"]),
        account=str(rng.randrange(5)),
        call_id=str(10**9 + i),
        caller_number=f"+7916{rng.randrange(10**7):07d}",
        source=rng.choice(["google", "yandex", "direct", None]),
        medium=rng.choice(["cpc", "organic", None]),
        utm_campaign=f"campaign_{rng.randrange(30)}",
        landing_url=f"https://example.ru/landing/{rng.randrange(1000)}?utm_source=yandex&utm_medium=cpc",
        comment="Клиент перезвонил, уточнил стоимость доставки" if i % 3 else None,
    )
    record.update({name: rng.randrange(600) for name in INT_COLUMNS})
    record.update({name: rng.random() < 0.5 for name in BOOL_COLUMNS})
    record.update(cost=round(rng.random() * 1000, 2), rating=rng.random() * 5)
    record["started_at"] = start.isoformat().replace("+00:00", "Z")
    record["ended_at"] = (start + dt.timedelta(seconds=120)).isoformat()
    record["call_date"] = start.date().isoformat()
    record["tags"] = ["новый", "ppc"] if i % 2 else []
    return record


def write_input(path: Path, rows: int, streams: int) -> None:
    """Singer lines: one SCHEMA per stream, rows interleaved over the streams, a STATE."""
    rng = random.Random(42)
    names = ["calls", *(f"extra_{k}" for k in range(1, streams))]
    key = ["vendor", "account", "call_id"]
    with path.open("w", encoding="utf-8") as out:
        for name in names:
            schema = {"type": "object", "properties": schema_properties()}
            message = {"type": "SCHEMA", "stream": name, "schema": schema, "key_properties": key}
            out.write(json.dumps(message) + "\n")
        for i in range(rows):
            message = {
                "type": "RECORD",
                "stream": names[i % streams],
                "record": make_record(rng, i),
            }
            out.write(json.dumps(message, ensure_ascii=False) + "\n")
        out.write(json.dumps({"type": "STATE", "value": {"rows": rows}}) + "\n")


def baseline(input_path: str, output_path: str) -> None:
    """The bare loop: msgspec + the same conversions + openpyxl write-only append."""
    from zoneinfo import ZoneInfo

    import msgspec
    from openpyxl import Workbook

    tz = ZoneInfo("Europe/Moscow")

    def date_time(value: str) -> dt.datetime:
        local = dt.datetime.fromisoformat(value).astimezone(tz)
        return local.replace(tzinfo=None, microsecond=local.microsecond // 1000 * 1000)

    def compact(value: list) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def identity(value: object) -> object:
        return value

    special = {
        **dict.fromkeys(DATETIME_COLUMNS, date_time),
        **dict.fromkeys(ARRAY_COLUMNS, compact),
    }
    special.update(dict.fromkeys(DATE_COLUMNS, dt.date.fromisoformat))
    wb = Workbook(write_only=True)
    sheets: dict = {}
    decode = msgspec.json.Decoder().decode
    with open(input_path, "rb") as lines:
        for line in lines:
            message = decode(line)
            if message["type"] == "SCHEMA":
                names = ["vendor", "account", "call_id"]
                names += [n for n in message["schema"]["properties"] if n not in names]
                ws = wb.create_sheet(message["stream"])
                ws.append(names)
                sheets[message["stream"]] = (ws, [(n, special.get(n, identity)) for n in names])
            elif message["type"] == "RECORD":
                ws, columns = sheets[message["stream"]]
                get = message["record"].get
                ws.append([None if (v := get(n)) is None else conv(v) for n, conv in columns])
    wb.save(output_path)


@dataclass
class Run:
    """What one child process cost."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float

    def describe(self, name: str, rows: int) -> str:
        return (
            f"{name} {self.wall_s:.1f} s wall, {self.cpu_s:.1f} s CPU "
            f"({rows / self.wall_s:,.0f} rows/s), peak RSS {self.peak_rss_mb:.0f} MB"
        )


def run(command: list[str], stdin_path: Path, log_path: Path) -> Run:
    """Run one child process, reading ``stdin_path``; its wall and CPU time and peak RSS."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with stdin_path.open("rb") as stdin, log_path.open("wb") as log:
        started = time.perf_counter()
        child = subprocess.Popen(
            command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=log, env=env
        )
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        sys.stderr.write(log_path.read_text(errors="replace")[-3000:])
        raise SystemExit(f"{command[:3]} failed")
    return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def target_command(work: Path) -> list[str]:
    """The real entry point, reading Singer lines on stdin."""
    config = work / "config.json"
    config.write_text(json.dumps({"output_path": str(work / "target.xlsx")}))
    return [sys.executable, "-m", "tap_calltrack.excel.target", "--config", str(config)]


def baseline_command(work: Path, data: Path) -> list[str]:
    """The bare loop, reading the same file."""
    return [sys.executable, __file__, "--baseline-child", str(data), str(work / "base.xlsx")]


def one_round(args: argparse.Namespace, work: Path, data: Path) -> dict[str, Run]:
    """Baseline then target (or one of them), each as a fresh process."""
    sides = {
        "baseline": (baseline_command(work, data), Path(os.devnull)),
        "target": (target_command(work), data),
    }
    return {
        side: run(command, stdin, work / f"{side}.log")
        for side, (command, stdin) in sides.items()
        if args.only in (None, side)
    }


def report_round(number: int, rows: int, runs: dict[str, Run]) -> tuple[float, float] | None:
    """Print a round; its (wall, CPU) throughput ratios when both sides ran."""
    line = "; ".join(r.describe(side, rows) for side, r in runs.items())
    ratios = None
    if len(runs) == 2:
        base, target = runs["baseline"], runs["target"]
        ratios = (base.wall_s / target.wall_s, base.cpu_s / target.cpu_s)
        line += f"; ratio {ratios[0]:.2f} (CPU {ratios[1]:.2f})"
    print(f"round {number}: {line}", flush=True)
    return ratios


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--streams", type=int, default=1, help="interleaved streams")
    parser.add_argument("--only", choices=["target", "baseline"], help="run one side only")
    parser.add_argument(
        "--baseline-child", nargs=2, metavar=("INPUT", "OUTPUT"), help=argparse.SUPPRESS
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.baseline_child:
        baseline(*args.baseline_child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-excel-") as tmp:
        work = Path(tmp)
        data = work / "input.jsonl"
        write_input(data, args.rows, args.streams)
        size_mb = data.stat().st_size / 1e6
        print(f"{args.rows:,} rows x 40 columns, {args.streams} stream(s), input {size_mb:.0f} MB")
        ratios = [
            r
            for n in range(1, args.repeat + 1)
            if (r := report_round(n, args.rows, one_round(args, work, data)))
        ]
        if ratios:
            wall = statistics.median(r[0] for r in ratios)
            cpu = statistics.median(r[1] for r in ratios)
            print(f"median ratio (target throughput / bare loop): {wall:.2f} (CPU {cpu:.2f})")


if __name__ == "__main__":
    main()
