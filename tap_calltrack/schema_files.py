"""Where the JSON Schema files are: inside the installed package, or the source tree.

The files live at the top of the repository (``schemas/<vendor>/<stream>.json``) and the
wheel carries them as ``tap_calltrack/schemas`` (see pyproject.toml); an editable install
or a source checkout reads them in place.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


def root() -> Traversable:
    packaged = importlib.resources.files("tap_calltrack") / "schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "schemas"


def folder(vendor: str) -> Traversable:
    return root() / vendor


def load(vendor: str, name: str) -> dict[str, Any]:
    text = (folder(vendor) / f"{name}.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
