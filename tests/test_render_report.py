"""scripts/render_report.py's arguments (the rendering needs LibreOffice: not run in CI)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "render_report.py"
spec = importlib.util.spec_from_file_location("render_report", SCRIPT)
assert spec and spec.loader
render_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render_report)


def test_defaults_are_the_demo_workbook_and_docs_images(tmp_path, monkeypatch):
    workbook = tmp_path / "calltrack-demo.xlsx"
    workbook.write_bytes(b"")
    monkeypatch.setattr(render_report, "DEFAULT_WORKBOOK", workbook)
    args = render_report.parse_args([])
    assert args.workbook == workbook and args.dpi == 110
    assert args.out == SCRIPT.parent.parent / "docs" / "images"
    assert render_report.SHEETS == {"Summary": "summary.png", "Funnel": "funnel.png"}


def test_a_missing_workbook_is_one_line_naming_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        render_report.parse_args([str(tmp_path / "nope.xlsx"), "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert f"no workbook at {tmp_path / 'nope.xlsx'} (run `make demo` first)" in (
        capsys.readouterr().err)
