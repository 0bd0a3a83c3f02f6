"""Print the `settings:` list of the tap-calltrack extractor for meltano.yml.

The tap's config schema (tap-calltrack --about) is the source of truth; a vendor section
becomes dotted settings (``calltouch.api_url``) and any setting holding a secret is
``sensitive``. tests/test_meltano.py fails when meltano.yml drifts from the schema.
Usage: python scripts/meltano_settings.py [--write]   (--write: into meltano.yml in place)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

KINDS = {"string": "string", "integer": "integer", "number": "decimal", "boolean": "boolean",
         "array": "array", "object": "object"}
SDK_BUILTIN = {"stream_maps", "stream_map_config", "faker_config", "flattening_enabled",
               "flattening_max_depth", "batch_config"}


def kind(prop: dict[str, Any]) -> str:
    types = [t for t in prop.get("type", ["string"]) if t != "null"]
    return KINDS[types[0]]


def setting(name: str, prop: dict[str, Any]) -> dict[str, Any]:
    entry = {"name": name, "kind": kind(prop),
             "label": name.replace("_", " ").replace(".", ": ").capitalize(),
             "description": " ".join(prop.get("description", "").split())}
    if '"secret": true' in json.dumps(prop):
        entry["sensitive"] = True
    return entry


def settings() -> list[dict[str, Any]]:
    tap = Path(sys.executable).parent / "tap-calltrack"
    about = json.loads(subprocess.run([str(tap), "--about", "--format", "json"],
                                      capture_output=True, text=True, check=True).stdout)
    entries = []
    for name, prop in about["settings"]["properties"].items():
        if name in SDK_BUILTIN:
            continue
        if kind(prop) == "object" and "properties" in prop:
            entries += [setting(f"{name}.{sub}", p) for sub, p in prop["properties"].items()]
        else:
            entries.append(setting(name, prop))
    return entries


def settings_yaml() -> str:
    return yaml.safe_dump(settings(), allow_unicode=True, sort_keys=False, width=96)


def write_meltano_yml(path: Path) -> None:
    """Replace the tap-calltrack extractor's ``settings:`` list, keep everything else."""
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line == "  - name: tap-calltrack\n")
    first = next(i for i in range(start, len(lines)) if lines[i] == "    settings:\n") + 1
    last = next(i for i in range(first, len(lines))
                if not lines[i].startswith(("    - ", "      ")))
    block = "".join(f"    {line}" if line.strip() else line
                    for line in settings_yaml().splitlines(keepends=True))
    path.write_text("".join(lines[:first]) + block + "".join(lines[last:]))


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_meltano_yml(Path(__file__).resolve().parent.parent / "meltano.yml")
    else:
        print(settings_yaml())
