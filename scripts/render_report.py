"""Pictures of a workbook's Summary and Funnel sheets as they print, for the README.

    python scripts/render_report.py [WORKBOOK] [--out docs/images]

WORKBOOK defaults to output/calltrack-demo.xlsx (`make demo` writes it). Each sheet is
copied into a workbook of its own, printed to PDF by LibreOffice (`soffice --headless
--convert-to pdf`, with the sheet's own print setup), and the first page is turned into a
PNG by pdftoppm: docs/images/summary.png and docs/images/funnel.png.

Needs LibreOffice Calc (`soffice`; Debian: apt-get install libreoffice-calc) and pdftoppm
(Debian: apt-get install poppler-utils). CI does not run this script.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKBOOK = ROOT / "output" / "calltrack-demo.xlsx"
DEFAULT_OUT = ROOT / "docs" / "images"
SHEETS = {"Summary": "summary.png", "Funnel": "funnel.png"}
DPI = 110
TOOLS = {"soffice": "libreoffice-calc", "pdftoppm": "poppler-utils"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workbook", nargs="?", type=Path, default=DEFAULT_WORKBOOK,
                        help="the workbook (default: output/calltrack-demo.xlsx)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder of the PNGs (default: docs/images)")
    parser.add_argument("--dpi", type=int, default=DPI, help=f"resolution (default: {DPI})")
    args = parser.parse_args(argv)
    if not args.workbook.is_file():
        parser.error(f"no workbook at {args.workbook} (run `make demo` first)")
    return args


def missing_tools() -> list[str]:
    return [f"{tool} (Debian package {package})" for tool, package in TOOLS.items()
            if shutil.which(tool) is None]


def one_sheet_copy(workbook: Path, sheet: str, target: Path) -> Path:
    """A copy of ``workbook`` that holds only ``sheet`` (its chart and print setup kept)."""
    book = openpyxl.load_workbook(workbook)
    if sheet not in book.sheetnames:
        sys.exit(f"render_report: {workbook} has no {sheet!r} sheet")
    for name in book.sheetnames:
        if name != sheet:
            del book[name]
    book.save(target)
    return target


def run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        sys.exit(f"render_report: {command[0]} failed: {result.stderr.strip()[-500:]}")


def render(xlsx: Path, png: Path, dpi: int, work: Path) -> None:
    """The first printed page of ``xlsx`` as ``png``."""
    profile = (work / "lo-profile").as_uri()  # our own, so a running LibreOffice is no bother
    run(["soffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(work), str(xlsx)])
    pdf = work / f"{xlsx.stem}.pdf"
    if not pdf.exists():
        sys.exit(f"render_report: LibreOffice wrote no {pdf.name}")
    run(["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile",
         str(pdf), str(png.with_suffix(""))])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if missing := missing_tools():
        sys.exit(f"render_report: missing {', '.join(missing)}")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="render-report-") as tmp:
        work = Path(tmp)
        for sheet, name in SHEETS.items():
            xlsx = one_sheet_copy(args.workbook, sheet, work / f"{sheet.lower()}.xlsx")
            render(xlsx, args.out / name, args.dpi, work)
            print(f"render_report: {sheet} -> {args.out / name}")


if __name__ == "__main__":
    main()
