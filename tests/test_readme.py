"""The README stays true: its settings table and streams table match the tap."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tap_calltrack.tap import TapCalltrack

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def block(name: str) -> str:
    match = re.search(rf"<!-- {name}:start -->\n(.*?)\n<!-- {name}:end -->", README, re.S)
    assert match, f"README has no {name} block"
    return match.group(1)


def test_settings_table_is_generated_from_the_tap():
    generated = subprocess.run([sys.executable, str(ROOT / "scripts" / "readme_settings.py")],
                               capture_output=True, text=True, check=True).stdout.strip()
    assert block("settings") == generated, "run scripts/readme_settings.py into the README"


def test_streams_table_lists_every_stream_with_its_keys():
    rows = {}
    for line in block("streams").splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = (cells[2], cells[3])
    tap = TapCalltrack(config={}, validate_config=False)
    assert set(rows) == set(tap.streams)
    for name, stream in tap.streams.items():
        keys, replication = rows[name]
        assert keys == ", ".join(f"`{key}`" for key in stream.primary_keys), name
        expected = f"`{stream.replication_key}`" if stream.replication_key else "— (full table)"
        assert replication == expected, name
