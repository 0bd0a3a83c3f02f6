"""A non-editable install carries the schemas: --about and --discover work from the wheel;
the wheel holds none of the emulator (a distribution of its own, sandbox/)."""

from __future__ import annotations

import json
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def fresh_venv_with(wheel: Path, env_dir: Path) -> tuple[Path, Path]:
    """A new venv holding ``wheel``; it borrows the dependencies (not this checkout: no
    .pth of the editable installs is processed from a plain path entry). The venv and its
    site-packages."""
    venv.create(env_dir, with_pip=False)
    fresh_site = next(env_dir.glob("lib/python*/site-packages"))
    (fresh_site / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"),
                    "install", "--no-deps", "-q", str(wheel)], check=True)
    return env_dir, fresh_site


@pytest.mark.e2e
def test_wheel_install_discovers_every_stream_with_its_schema(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(tmp_path / "dist"), str(ROOT)], check=True)
    wheel = next((tmp_path / "dist").glob("tap_calltrack-*.whl"))
    env_dir, fresh_site = fresh_venv_with(wheel, tmp_path / "fresh")
    assert (fresh_site / "tap_calltrack" / "schemas" / "calls.json").exists()
    tap = str(env_dir / "bin" / "tap-calltrack")
    about = json.loads(subprocess.run([tap, "--about", "--format", "json"], cwd=tmp_path,
                                      capture_output=True, text=True, check=True).stdout)
    assert {"start_date", "calltouch", "comagic", "callkeeper"} <= set(
        about["settings"]["properties"])
    where = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                            "import tap_calltrack; print(tap_calltrack.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert str(fresh_site) in where
    catalog = json.loads(subprocess.run([tap, "--discover"], cwd=tmp_path, capture_output=True,
                                        text=True, check=True).stdout)
    streams = {entry["tap_stream_id"]: entry for entry in catalog["streams"]}
    assert len(streams) == 22
    for entry in streams.values():
        assert entry["schema"]["properties"], entry["tap_stream_id"]
    subprocess.run([str(env_dir / "bin" / "target-calltrack-excel"), "--help"], cwd=tmp_path,
                   capture_output=True, check=True)
    # The emulator is a distribution of its own: the runtime wheel carries none of it.
    assert not (env_dir / "bin" / "calltrack-sandbox").exists()
    assert emulator_parts(wheel) == []


def emulator_parts(wheel: Path) -> list[str]:
    """What of the emulator a wheel holds: its files and a ``calltrack-sandbox`` entry point."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next((archive.read(name).decode() for name in names
                             if name.endswith(".dist-info/entry_points.txt")), "")
    parts = [name for name in names
             if name.startswith(("calltrack_sandbox/", "tap_calltrack/sandbox/"))]
    return parts + [line.strip() for line in entry_points.splitlines()
                    if "sandbox" in line]


def test_emulator_parts_finds_the_emulator_in_a_wheel(tmp_path):
    # The check above must be able to fail: a wheel that still ships the emulator.
    wheel = tmp_path / "tap_calltrack-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tap_calltrack/__init__.py", "")
        archive.writestr("tap_calltrack/sandbox/server.py", "")
        archive.writestr("tap_calltrack-0.dist-info/entry_points.txt",
                         "[console_scripts]\n"
                         "calltrack-sandbox = tap_calltrack.sandbox.server:main\n"
                         "tap-calltrack = tap_calltrack.tap:TapCalltrack.cli\n")
    assert emulator_parts(wheel) == [
        "tap_calltrack/sandbox/server.py",
        "calltrack-sandbox = tap_calltrack.sandbox.server:main"]


@pytest.mark.e2e
def test_the_sandbox_wheel_runs_on_its_own_without_the_tap(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(tmp_path / "dist"), str(ROOT / "sandbox")], check=True)
    wheel = next((tmp_path / "dist").glob("calltrack_sandbox-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(archive.read(name).decode() for name in names
                            if name.endswith(".dist-info/entry_points.txt"))
    assert "calltrack_sandbox/comagic/app.py" in names
    assert not [name for name in names if name.startswith("tap_calltrack")]
    assert "calltrack-sandbox = calltrack_sandbox.server:main" in entry_points
    env_dir, fresh_site = fresh_venv_with(wheel, tmp_path / "fresh")
    python = str(env_dir / "bin" / "python")
    no_tap = subprocess.run([python, "-c", "import tap_calltrack.tap"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert no_tap.returncode != 0 and "ModuleNotFoundError" in no_tap.stderr
    where = subprocess.run(
        [python, "-c", "import calltrack_sandbox.server as server; print(server.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert str(fresh_site) in where
    config = json.loads(subprocess.run(
        [str(env_dir / "bin" / "calltrack-sandbox"), "--port", "0", "--print-config"],
        cwd=tmp_path, capture_output=True, text=True, check=True).stdout)
    assert {"calltouch", "comagic", "callkeeper"} <= set(config)
