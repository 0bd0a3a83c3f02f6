"""Print the README's settings table from `tap-calltrack --about --format json`.

The SDK's markdown (`--about --format=markdown`) lists dotted settings; this adds the
fields of each account entry (`calltouch.sites[].api_token`, ...) and a column for
secrets. tests/test_readme.py fails when the README's table is not this output.
Usage: python scripts/readme_settings.py [--write]   (--write: into README.md in place)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SDK_BUILTIN = {"stream_maps", "stream_map_config", "faker_config", "flattening_enabled",
               "flattening_max_depth", "batch_config"}


def about() -> dict[str, Any]:
    tap = Path(sys.executable).parent / "tap-calltrack"
    out = subprocess.run([str(tap), "--about", "--format", "json"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)["settings"]


def cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return f"`{text}`".replace("|", "\\|")


def rows(name: str, prop: dict[str, Any], required: bool) -> list[str]:
    description = " ".join(prop.get("description", "").split()).replace("|", "\\|")
    secret = "yes" if prop.get("secret") else ""
    lines = [f"| `{name}` | {'yes' if required else ''} | {cell(prop.get('default'))} | "
             f"{secret} | {description} |"]
    items = prop.get("items", {})
    if "properties" in prop:
        needed = set(prop.get("required", []))
        for sub, sub_prop in prop["properties"].items():
            lines += rows(f"{name}.{sub}", sub_prop, sub in needed)
    elif "properties" in items:
        needed = set(items.get("required", []))
        for sub, sub_prop in items["properties"].items():
            lines += rows(f"{name}[].{sub}", sub_prop, sub in needed)
    return lines


def table() -> str:
    settings = about()
    required = set(settings.get("required", []))
    lines = ["| Setting | Required | Default | Secret | Description |",
             "|:--|:-:|:--|:-:|:--|"]
    for name, prop in settings["properties"].items():
        if name not in SDK_BUILTIN:
            lines += rows(name, prop, name in required)
    return "\n".join(lines)


def write_readme(readme: Path) -> None:
    text = readme.read_text()
    start, end = "<!-- settings:start -->\n", "\n<!-- settings:end -->"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    readme.write_text(f"{head}{start}{table()}{end}{tail}")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_readme(Path(__file__).resolve().parent.parent / "README.md")
    else:
        print(table())
