"""Recordings are opt-in, and library chatter stays out of the INFO log."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from fake_server import FakeVendor, Request
from input_fakes import calls_only, calls_page, calltouch_call, calltouch_config
from support import console_script, write_json

pytestmark = pytest.mark.e2e
RECORDINGS = {"calltouch_recordings", "comagic_recordings", "callkeeper_recordings"}


def run(tmp_path, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:

    return subprocess.run([console_script("tap-calltrack"), *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def test_discovery_leaves_every_recordings_stream_unselected(tmp_path):
    result = run(tmp_path, "--discover")  # no config: every vendor's streams
    assert result.returncode == 0, result.stderr
    catalog = json.loads(result.stdout)
    roots = {entry["tap_stream_id"]: next(m["metadata"] for m in entry["metadata"]
                                          if m["breadcrumb"] == [])
             for entry in catalog["streams"]}
    assert roots.keys() >= RECORDINGS
    for name, root in roots.items():
        expected = name not in RECORDINGS
        assert root["selected-by-default"] is expected, name
        assert root["selected"] is expected, name


def answered_calls(request: Request):
    if request.path.endswith("/download"):
        return calls_page([])  # never asked (asserted below)
    return calls_page([calltouch_call(7, "02/01/2024", successful=True, duration=60,
                                      waitingConnect=5)])


@pytest.mark.parametrize("with_folder", [False, True])
def test_a_run_without_a_catalog_downloads_no_recordings(tmp_path, with_folder):
    with FakeVendor(calls_only(answered_calls)) as fake:
        config = calltouch_config(fake.url)
        if with_folder:
            config["recordings_dir"] = str(tmp_path / "rec")
        result = run(tmp_path, "--config", str(write_json(tmp_path / "c.json", config)))
        paths = fake.paths()
    assert result.returncode == 0, result.stderr[-3000:]
    assert not any(path.endswith("/download") for path in paths)
    streams = {json.loads(line)["stream"] for line in result.stdout.splitlines()
               if '"type":"RECORD"' in line}
    assert "calltouch_calls" in streams and not streams & RECORDINGS
    assert "recordings_dir" not in result.stderr
    assert not (tmp_path / "rec").exists()


def test_selecting_recordings_without_a_folder_is_a_config_error(tmp_path):
    config = calltouch_config("http://127.0.0.1:9")
    discovered = json.loads(run(tmp_path, "--config", str(write_json(
        tmp_path / "c.json", config)), "--discover").stdout)
    for entry in discovered["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] == "calltouch_recordings"
    result = run(tmp_path, "--config", str(tmp_path / "c.json"), "--catalog",
                 str(write_json(tmp_path / "cat.json", discovered)))
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == ["tap-calltrack: config error: setting 'recordings_dir' is required "
                      "when calltouch_recordings is selected"]
    assert result.stdout == ""


CHATTER = ("Skipping parse of env var settings", "Skipping deselected stream")


def test_library_chatter_is_debug_not_info(tmp_path):
    with FakeVendor(calls_only(lambda request: calls_page([]))) as fake:
        config_path = str(write_json(tmp_path / "c.json", calltouch_config(fake.url)))
        quiet = run(tmp_path, "--config", config_path)
        loud = run(tmp_path, "--config", config_path, env={"LOGLEVEL": "DEBUG"})
    assert quiet.returncode == 0 and loud.returncode == 0, quiet.stderr[-2000:]
    for start in CHATTER:
        assert start not in quiet.stderr
        lines = [line for line in loud.stderr.splitlines() if start in line]
        assert lines and all("| DEBUG " in line for line in lines), start
