"""The target as a subprocess: command line, errors, STATE timing, kills and interrupts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import openpyxl
import pytest
from excel_helpers import (
    CALLS_KEYS,
    CALLS_PROPERTIES,
    call,
    child_env,
    read_openpyxl,
    record_msg,
    report_table,
    run_cli,
    schema_msg,
    singer_lines,
    state_msg,
    target_command,
)

pytestmark = pytest.mark.e2e

SIMPLE = {"id": {"type": "integer"}, "text": {"type": ["string", "null"]}}


def good_input(n: int = 3) -> str:
    records = [record_msg("s", {"id": i, "text": f"row {i}"}) for i in range(n)]
    return singer_lines([schema_msg("s", SIMPLE, ["id"]), *records, state_msg({"done": n})])


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory holding a config and a previous workbook at output_path."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.json").write_text(json.dumps({"output_path": str(work / "out.xlsx")}))
    wb = openpyxl.Workbook()
    wb.active.append(["previous", "workbook"])
    wb.save(work / "out.xlsx")
    return work


def assert_previous_intact(workdir: Path, previous: bytes) -> None:
    assert (workdir / "out.xlsx").read_bytes() == previous
    assert read_openpyxl(workdir / "out.xlsx")["Sheet"] == [["previous", "workbook"]]


def test_about_lists_the_settings_with_descriptions(workdir: Path) -> None:
    result = run_cli(workdir / "config.json", "", "--about", "--format", "json")
    about = json.loads(result.stdout)
    settings = about["settings"]["properties"]
    assert set(settings) == {
        "output_path",
        "timezone",
        "flatten_max_depth",
        "max_rows_per_sheet",
        "report_sheets",
    }
    assert all(s.get("description") for s in settings.values())
    assert settings["timezone"]["default"] == "Europe/Moscow"
    assert settings["max_rows_per_sheet"]["default"] == 1_048_575


def test_version_and_markdown_about() -> None:
    version = subprocess.run(
        [*target_command(Path("x"))[:3], "--version"],
        capture_output=True,
        text=True,
        env=child_env(),
        check=True,
    )
    assert version.stdout.startswith("target-calltrack-excel v")
    about = subprocess.run(
        [*target_command(Path("x"))[:3], "--about", "--format", "markdown"],
        capture_output=True,
        text=True,
        env=child_env(),
        check=True,
    )
    assert "output_path" in about.stdout


def test_a_good_run_replaces_the_workbook_and_emits_state(workdir: Path) -> None:
    result = run_cli(workdir / "config.json", good_input())
    assert result.returncode == 0, result.stderr
    assert result.stdout == '{"done": 3}\n'
    assert read_openpyxl(workdir / "out.xlsx")["s"][1:] == [
        [0, "row 0"],
        [1, "row 1"],
        [2, "row 2"],
    ]
    assert sorted(p.name for p in workdir.iterdir()) == ["config.json", "out.xlsx"]


def test_settings_from_the_environment_and_input_file(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(good_input(1), encoding="utf-8")
    env = {
        **child_env(),
        "TARGET_CALLTRACK_EXCEL_OUTPUT_PATH": str(tmp_path / "env.xlsx"),
        "TARGET_CALLTRACK_EXCEL_REPORT_SHEETS": "false",
    }
    command = [
        sys.executable,
        "-m",
        "tap_calltrack.excel.target",
        "--config",
        "ENV",
        "--input",
        str(source),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert list(read_openpyxl(tmp_path / "env.xlsx")) == ["s"]


BAD_INPUTS = {
    "record before schema": (
        singer_lines([schema_msg("s", SIMPLE), record_msg("other", {"id": 1})]),
        "line 2 (stream 'other'): RECORD arrived before the stream's SCHEMA",
    ),
    "invalid json": (
        good_input(2).replace('{"id": 1', '{"id": 1,,', 1),
        "line 3 (stream 's'): invalid JSON",
    ),
    "unknown message type": (
        good_input(1) + '{"type": "HELLO", "stream": "s"}\n',
        "line 4 (stream 's'): unknown message type 'HELLO'",
    ),
    "schema without properties": (
        '{"type": "SCHEMA", "stream": "s", "schema": {"type": "object"}}\n',
        "line 1 (stream 's'): SCHEMA has no 'properties' object",
    ),
    "not an object": ("[1, 2]\n", "line 1: a Singer message must be a JSON object"),
    "a record nested 1,000 deep": (
        singer_lines([schema_msg("s", {**SIMPLE, "a": {"type": "object"}}, ["id"])])
        + '{"type": "RECORD", "stream": "s", "record": {"id": 1, "a": '
        + '{"a": ' * 1000
        + "{}"
        + "}" * 1000
        + "}}\n",
        "line 2 (stream 's'): a value is nested too deeply to be read",
    ),
    "key_properties naming an object": (
        singer_lines([{**schema_msg("s", SIMPLE), "key_properties": [{"id": 1}]}]),
        "line 1 (stream 's'): SCHEMA message whose 'key_properties' is not a list of strings",
    ),
    "key_properties an object": (
        singer_lines([{**schema_msg("s", SIMPLE), "key_properties": {"id": 1}}]),
        "line 1 (stream 's'): SCHEMA message whose 'key_properties' is not a list of strings",
    ),
    "key_properties naming a missing field": (
        singer_lines([schema_msg("s", SIMPLE, ["id", "nope"])]),
        "line 1 (stream 's'): 'key_properties' names 'nope', not in the SCHEMA's properties",
    ),
    "a STATE holding NaN": (
        good_input(1) + '{"type": "STATE", "value": {"bookmark": NaN}}\n',
        "line 4: STATE value holds NaN or Infinity, which JSON cannot carry",
    ),
    "stream name not a string": (
        '{"type": "RECORD", "stream": ["s"], "record": {}}\n',
        "line 1: RECORD message without a 'stream' name",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_stops_with_one_line_and_keeps_the_previous_workbook(
    workdir: Path, case: str
) -> None:
    text, message = BAD_INPUTS[case]
    previous = (workdir / "out.xlsx").read_bytes()
    result = run_cli(workdir / "config.json", text + singer_lines([state_msg({"x": 1})]))
    assert result.returncode == 1
    assert result.stdout == ""  # no STATE
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert errors[0].endswith(message) or message in errors[0]
    assert_previous_intact(workdir, previous)
    assert sorted(p.name for p in workdir.iterdir()) == ["config.json", "out.xlsx"]


def test_unknown_timezone_is_a_one_line_startup_error(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"timezone": "Mars/Olympus", "output_path": str(tmp_path / "o.xlsx")})
    )
    result = run_cli(config, good_input())
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert "setting 'timezone'" in errors[0] and "Mars/Olympus" in errors[0]
    assert not (tmp_path / "o.xlsx").exists()


def wait_for_line(stream: IO[str], marker: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return line
    raise AssertionError(f"{marker!r} never appeared in: {''.join(seen)[-2000:]}")


def start(command: list[str], scratch: Path) -> subprocess.Popen[str]:
    """Start the target; openpyxl's sheet streams (left behind by SIGKILL) go to ``scratch``."""
    scratch.mkdir(exist_ok=True)
    return subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**child_env(), "TMPDIR": str(scratch)},
    )


def test_sigkill_while_streaming_leaves_the_previous_workbook(workdir: Path) -> None:
    previous = (workdir / "out.xlsx").read_bytes()
    child = start(target_command(workdir / "config.json"), workdir.parent / "scratch")
    wait_for_line(child.stderr, "env var settings")  # started, now reading stdin
    child.stdin.write(good_input(200).rsplit("\n", 2)[0] + "\n")
    child.stdin.flush()
    time.sleep(0.5)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.stdout.read() == ""
    assert_previous_intact(workdir, previous)
    assert sorted(p.name for p in workdir.iterdir()) == ["config.json", "out.xlsx"]


PAUSE_IN_SAVE = """
import sys, time, zipfile
original = zipfile.ZipFile.writestr
calls = []
def writestr(self, *args, **kwargs):
    original(self, *args, **kwargs)
    calls.append(1)
    if len(calls) == 3:
        sys.stderr.write("PAUSED-IN-SAVE\\n"); sys.stderr.flush(); time.sleep(120)
zipfile.ZipFile.writestr = writestr
from tap_calltrack.excel.target import TargetCalltrackExcel
TargetCalltrackExcel.cli()
"""


def test_sigkill_during_the_save_leaves_only_a_recognisable_temp_file(workdir: Path) -> None:
    previous = (workdir / "out.xlsx").read_bytes()
    command = [sys.executable, "-c", PAUSE_IN_SAVE, "--config", str(workdir / "config.json")]
    child = start(command, workdir.parent / "scratch")
    child.stdin.write(good_input(50))
    child.stdin.close()
    wait_for_line(child.stderr, "PAUSED-IN-SAVE")
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.stdout.read() == ""  # no STATE
    assert_previous_intact(workdir, previous)
    leftovers = sorted(
        p.name for p in workdir.iterdir() if p.name not in ("config.json", "out.xlsx")
    )
    assert len(leftovers) == 1
    assert leftovers[0].startswith(".out.xlsx.") and leftovers[0].endswith(".partial")


def test_sigterm_stops_without_state_and_keeps_the_previous_workbook(workdir: Path) -> None:
    previous = (workdir / "out.xlsx").read_bytes()
    child = start(target_command(workdir / "config.json"), workdir.parent / "scratch")
    wait_for_line(child.stderr, "env var settings")
    child.stdin.write(good_input(20).rsplit("\n", 2)[0] + "\n")
    child.stdin.flush()
    time.sleep(0.5)
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=30)
    assert child.returncode == 128 + signal.SIGTERM
    assert stdout == ""  # no STATE
    assert "Traceback" not in stderr
    assert "interrupted by signal 15" in stderr
    assert_previous_intact(workdir, previous)
    assert sorted(p.name for p in workdir.iterdir()) == ["config.json", "out.xlsx"]


def test_state_appears_only_once_the_complete_workbook_is_in_place(tmp_path: Path) -> None:
    output = tmp_path / "report.xlsx"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"output_path": str(output)}))
    calls = [record_msg("calls", call(str(i), "2024-05-01T10:00:00Z")) for i in range(300)]
    text = singer_lines(
        [
            schema_msg("calls", CALLS_PROPERTIES, CALLS_KEYS),
            state_msg({"n": 1}),
            *calls,
            state_msg({"n": 2}),
        ]
    )
    child = start(target_command(config), tmp_path / "scratch")
    child.stdin.write(text)
    child.stdin.close()
    line = child.stdout.readline()  # blocks until the target writes STATE
    assert json.loads(line) == {"n": 2}
    sheets = read_openpyxl(output)  # at that moment: in place and complete
    assert len(sheets["calls"]) == 301
    assert report_table(sheets["Summary"], "Calls per day, all accounts")[2][1] == 300
    assert child.wait(timeout=30) == 0
    assert child.stdout.read() == ""
