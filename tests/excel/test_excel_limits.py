"""The target within the process's limits: more sheets than open files, deep values."""

from __future__ import annotations

import json
import resource
import subprocess
from pathlib import Path

import openpyxl
import pytest
from excel_helpers import (
    child_env,
    read_calamine,
    record_msg,
    schema_msg,
    singer_lines,
    state_msg,
    target_command,
)

pytestmark = pytest.mark.e2e

SIMPLE = {"id": {"type": "integer"}, "text": {"type": ["string", "null"]}}
OPEN_FILES = 64


def _few_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


def test_many_interleaved_sheets_fit_a_small_open_file_limit(tmp_path: Path) -> None:
    streams = [f"s{i}" for i in range(OPEN_FILES * 20)]  # 1,280 sheets, 64 open files
    messages = [schema_msg(name, SIMPLE, ["id"]) for name in streams]
    for row in range(3):  # every stream gets a row in each round: all sheets stay in use
        messages += [record_msg(name, {"id": row, "text": f"{name}-{row}"}) for name in streams]
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"output_path": str(tmp_path / "out.xlsx"), "report_sheets": False})
    )
    result = subprocess.run(
        target_command(config),
        input=singer_lines([*messages, state_msg({"n": 1})]),
        capture_output=True,
        text=True,
        env=child_env(),
        preexec_fn=_few_open_files,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {"n": 1}
    book = openpyxl.load_workbook(tmp_path / "out.xlsx", read_only=True)
    assert book.sheetnames == streams
    for name in (streams[0], streams[len(streams) // 2], streams[-1]):
        rows = list(book[name].values)
        assert rows == [("id", "text"), *((i, f"{name}-{i}") for i in range(3))]


def test_a_value_nested_900_deep_is_written_as_compact_json(tmp_path: Path) -> None:
    deep = '{"a":' * 900 + "{}" + "}" * 900
    text = (
        singer_lines([schema_msg("s", {**SIMPLE, "a": {"type": "object"}}, ["id"])])
        + '{"type": "RECORD", "stream": "s", "record": {"id": 1, "a": '
        + deep
        + "}}\n"
    )
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"output_path": str(tmp_path / "out.xlsx")}))
    result = subprocess.run(
        target_command(config),
        input=text,
        capture_output=True,
        text=True,
        env=child_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = read_calamine(tmp_path / "out.xlsx")["s"]
    assert rows[1] == [1, "", deep]
