"""The SDK's private names this package relies on live in tap_calltrack/sdk_compat.py
only, and the pinned SDK still has each of them with the expected parameters."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import pytest
from singer_sdk import Stream, Tap, Target
from singer_sdk.plugin_base import PluginBase

from tap_calltrack import sdk_compat
from tap_calltrack.tap import TapCalltrack

PACKAGE = Path(sdk_compat.__file__).parent
CONFIG = {"start_date": "2024-01-01",
          "calltouch": {"accounts": [{"site_id": 1, "api_token": "t" * 20}]}}


def parameter_names(function: object) -> tuple[str, ...]:
    return tuple(inspect.signature(function).parameters)  # type: ignore[arg-type]


@pytest.mark.parametrize(("owner", "name", "parameters"),
                         [*sdk_compat.PINNED, *sdk_compat.OVERRIDDEN],
                         ids=lambda value: getattr(value, "__name__", str(value)))
def test_the_sdk_still_has_each_pinned_name(owner: type, name: str,
                                            parameters: tuple[str, ...]) -> None:
    assert callable(getattr(owner, name, None)), f"{owner.__name__}.{name} is gone"
    assert parameter_names(getattr(owner, name)) == parameters


def test_streams_still_carry_the_attributes_read() -> None:
    stream = next(iter(TapCalltrack(config=CONFIG).streams.values()))
    for attribute in sdk_compat.STREAM_ATTRIBUTES:
        assert attribute in vars(stream), attribute


def sdk_private_names() -> set[str]:
    """Single-underscore names of the SDK's plugin and stream classes: methods and class
    attributes, and what their ``__init__`` methods set on ``self``."""
    names: set[str] = set()
    for cls in (Stream, Tap, Target, PluginBase):
        names |= {name for name in dir(cls) if is_private(name)}
        for klass in cls.__mro__:
            init = vars(klass).get("__init__")
            if klass.__module__.startswith("singer_sdk") and init is not None:
                tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
                names |= {node.attr for node in ast.walk(tree)
                          if isinstance(node, ast.Attribute) and is_private(node.attr)
                          and isinstance(node.value, ast.Name) and node.value.id == "self"}
    return names


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(path: Path, names: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in names:
            found.append(f"{path.name}:{node.lineno} .{node.attr}")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names:
            found.append(f"{path.name}:{node.lineno} def {node.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith("singer_sdk") and \
                any(is_private(part) for part in node.module.split(".")):
            found.append(f"{path.name}:{node.lineno} from {node.module}")
    return found


def test_private_sdk_names_appear_in_sdk_compat_only() -> None:
    names = sdk_private_names()
    assert {"_write_state_message", "_tap", "_config"} <= names  # the walk finds them
    found = [use for path in sorted(PACKAGE.rglob("*.py")) if path.name != "sdk_compat.py"
             for use in private_uses(path, names)]
    assert found == []
    assert private_uses(PACKAGE / "sdk_compat.py", names)  # the check can see them


def test_the_tap_goes_through_the_adapter() -> None:
    assert issubclass(TapCalltrack, sdk_compat.SdkTap)
    streams = TapCalltrack(config=CONFIG).streams.values()
    assert all(isinstance(stream, sdk_compat.SdkStream) for stream in streams)
