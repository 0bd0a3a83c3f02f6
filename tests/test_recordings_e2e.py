"""Hostile recordings, end to end: the real tap process against the sandbox's calls with
tampered vendor ids and a scripted fake serving every download (tests/recording_world.py).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from fake_server import FakeVendor, Reply, Request, redirect
from recording_world import RecordingWorld, audio, files_in, good_media, rewrite
from support import TapRun, run_tap

pytestmark = pytest.mark.e2e

SAFE = re.compile(r"[A-Za-z0-9._-]+")
STREAM = {"calltouch": "calltouch_recordings", "comagic": "comagic_recordings",
          "callkeeper": "callkeeper_recordings"}
CALLS = {"calltouch": "calltouch_calls", "comagic": "comagic_calls",
         "callkeeper": "callkeeper_calls"}


def run(world: RecordingWorld, vendor: str, tmp: Path, *, state: dict | None = None,
        **extra: Any) -> TapRun:
    config = world.config(vendor, tmp / "recordings", **extra)
    return run_tap(config, tmp / "run", streams={CALLS[vendor], STREAM[vendor]}, state=state)


def assert_clean_exit(result: TapRun) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


def assert_only_safe_files(folder: Path, tmp: Path) -> None:
    """Every file is under the folder, with a safe bounded name, and no temporary is left."""
    outside = [p for p in tmp.rglob("*.mp3") if not p.is_relative_to(folder)
               and p.name != "secret.mp3"]
    assert outside == []
    for path in folder.rglob("*"):
        if path.is_file():
            assert SAFE.fullmatch(path.name) and len(path.name) <= 120, path.name
            assert not path.name.endswith(".part"), path.name


def recording_bookmark(result: TapRun, vendor: str) -> Any:
    partitions = result.final_state["bookmarks"][STREAM[vendor]].get("partitions", [])
    return [p.get("replication_key_value") for p in partitions]


# --- names ---------------------------------------------------------------------------


def numbered(template: str) -> Any:
    counter = itertools.count()
    return lambda value: template.format(next(counter))


@pytest.mark.parametrize(("vendor", "key"), [
    ("calltouch", "callId"),
    ("comagic", "communication_id"),
    ("comagic", "call_records"),  # the record ids
    ("comagic", "app_id"),  # from get.account
    ("callkeeper", "universalId"),
])
def test_traversal_ids_stay_inside_recordings_dir(tmp_path, vendor, key):
    counter = itertools.count()

    def evil(value: Any) -> Any:
        if isinstance(value, list):
            return [f"../../r{next(counter)}" for _ in value]
        return f"../../x{next(counter)}"

    def tamper(where: str, body: Any) -> Any:
        return rewrite(body, key, evil) if where == vendor else body

    with RecordingWorld(tamper) as world:
        result = run(world, vendor, tmp_path)
    assert_clean_exit(result)
    rows = result.records[STREAM[vendor]]
    assert rows, result.stderr[-2000:]
    folder = tmp_path / "recordings"
    assert_only_safe_files(folder, tmp_path)
    for row in rows:
        assert Path(row["path"]).resolve().is_relative_to(folder.resolve())
        assert Path(row["path"]).read_bytes()[:3] == b"ID3"
    # vendor/account/file, as for any id
    assert all(len(Path(name).parts) == 3 for name in files_in(folder)), files_in(folder).keys()


HOSTILE_IDS = ["9" * 300, "bad\x00id", "a/b\\c:d", "..", ".", "../../x" + "y" * 300]


@pytest.mark.parametrize(("vendor", "key"), [
    ("callkeeper", "universalId"), ("calltouch", "callId"), ("comagic", "communication_id")])
def test_a_300_character_id_and_a_nul_id_never_crash_the_run(tmp_path, vendor, key):
    ids = itertools.cycle(HOSTILE_IDS)

    def tamper(where: str, body: Any) -> Any:
        return rewrite(body, key, lambda value: next(ids)) if where == vendor else body

    with RecordingWorld(tamper) as world:
        result = run(world, vendor, tmp_path)
    assert_clean_exit(result)
    rows = result.records[STREAM[vendor]]
    saved = {str(row[key]): Path(row["path"]).name for row in rows}  # Calltouch: int ids
    assert set(saved) <= set(HOSTILE_IDS) and len(saved) >= 3, saved
    assert len(set(saved.values())) == len(saved)  # different ids, different files
    assert_only_safe_files(tmp_path / "recordings", tmp_path)
    if vendor == "callkeeper":  # every call of the sandbox's first account has a record
        assert set(saved) == set(HOSTILE_IDS)


def test_the_same_recording_twice_in_one_page_gives_one_intact_file(tmp_path):
    def tamper(where: str, body: Any) -> Any:
        if isinstance(body, dict) and isinstance(body.get("records"), list) and body["records"]:
            first = next((r for r in body["records"] if r.get("successful")), None)
            if first is not None:
                body["records"] = [first, dict(first), *body["records"]]
        return body

    def slow_media(request: Request) -> Reply:
        data = audio(request.path, 300_000)
        return Reply(chunks=[data[i:i + 10_000] for i in range(0, len(data), 10_000)],
                     headers={"Content-Type": "audio/mpeg"}, delay=0.05)

    with RecordingWorld(tamper, slow_media) as world:
        result = run(world, "calltouch", tmp_path)
    assert_clean_exit(result)
    rows = result.records["calltouch_recordings"]
    keys = [(row["site_id"], row["callId"]) for row in rows]
    assert len(keys) == len(set(keys)) > 0
    for row in rows:
        data = Path(row["path"]).read_bytes()
        assert data == audio(f"/calltouch/calls-service/RestAPI/{row['site_id']}/calls-diary/"
                             f"calls/{row['callId']}/download", 300_000)
    assert_only_safe_files(tmp_path / "recordings", tmp_path)


# --- answers that are not a whole recording ------------------------------------------------


@pytest.mark.parametrize("bad", [
    Reply(body="<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
          headers={"Content-Type": "text/html"}),
    Reply(body="<html><body>login</body></html>", headers={"Content-Type": "audio/mpeg"}),
    Reply(json={"error": "no such record"}, headers={"Content-Type": "application/octet-stream"}),
    Reply(body=b"", headers={"Content-Type": "audio/mpeg"}),
    Reply(status=206, body=audio("x"), headers={"Content-Type": "audio/mpeg"}),
], ids=["html-200", "html-as-audio", "json-as-octets", "empty", "206"])
def test_a_body_that_is_not_a_recording_is_refused_and_retried_next_run(tmp_path, bad):
    with RecordingWorld(media=lambda request: bad) as world:
        first = run(world, "comagic", tmp_path)
        assert_clean_exit(first)
        assert first.records["comagic_calls"], "the calls still flow"
        assert first.records.get("comagic_recordings", []) == []
        assert files_in(tmp_path / "recordings") == {}
        assert "the next run tries again" in first.stderr
        assert recording_bookmark(first, "comagic") in ([], [None])
        world.media = good_media
        second = run(world, "comagic", tmp_path, state=first.final_state)
    assert_clean_exit(second)
    assert second.records["comagic_recordings"]
    assert second.records.get("comagic_calls", []) == [], "the calls were complete"
    for row in second.records["comagic_recordings"]:
        assert Path(row["path"]).read_bytes()[:3] == b"ID3"


def flaky(first_reply: Any) -> Any:
    """The first answer of each download is ``first_reply(body)``, later ones whole."""
    seen: set[str] = set()

    def media(request: Request) -> Reply:
        body = audio(request.path)
        if request.path in seen:
            return Reply(body=body, headers={"Content-Type": "audio/mpeg"})
        seen.add(request.path)
        return first_reply(body)
    return media


@pytest.mark.parametrize("cut", [
    lambda body: Reply(body=body[:1000], content_length=len(body),
                       headers={"Content-Type": "audio/mpeg"}),
    lambda body: Reply(body=body, reset_after=1500, headers={"Content-Type": "audio/mpeg"}),
    lambda body: Reply(chunks=[body[:2000], body[2000:]], reset_after=2500,
                       headers={"Content-Type": "audio/mpeg"}),
], ids=["truncated", "reset", "reset-chunked"])
def test_a_cut_download_is_retried_and_never_leaves_wrong_bytes(tmp_path, cut):
    with RecordingWorld(media=flaky(cut)) as world:
        result = run(world, "callkeeper", tmp_path)
        downloads = len(world.media_requests())
    assert_clean_exit(result)
    rows = result.records["callkeeper_recordings"]
    assert rows and downloads == 2 * len(rows)
    for row in rows:
        data = Path(row["path"]).read_bytes()
        assert len(data) == 5000 and row["sha256"] == hashlib.sha256(data).hexdigest()
    assert "retry" in result.stderr
    assert_only_safe_files(tmp_path / "recordings", tmp_path)


def test_a_download_always_cut_short_gives_no_file_and_no_record(tmp_path):
    always_cut = lambda request: Reply(body=audio(request.path)[:100],  # noqa: E731
                                       content_length=5000,
                                       headers={"Content-Type": "audio/mpeg"})
    with RecordingWorld(media=always_cut) as world:
        result = run(world, "callkeeper", tmp_path)
    assert_clean_exit(result)
    assert result.records["callkeeper_calls"]
    assert result.records.get("callkeeper_recordings", []) == []
    assert files_in(tmp_path / "recordings") == {}


def test_an_endless_body_stops_at_the_size_cap(tmp_path):
    def endless(request: Request) -> Reply:
        head = audio(request.path, 64 * 1024)
        return Reply(chunks=itertools.chain([head], itertools.repeat(b"\0" * 65536)),
                     headers={"Content-Type": "audio/mpeg"})

    with RecordingWorld(media=endless) as world:
        result = run(world, "calltouch", tmp_path, max_recording_mb=1)
    assert_clean_exit(result)
    assert result.records["calltouch_calls"]
    assert result.records.get("calltouch_recordings", []) == []
    assert "larger than max_recording_mb" in result.stderr
    assert files_in(tmp_path / "recordings") == {}


def test_an_announced_length_over_the_cap_is_refused_without_reading(tmp_path):
    huge = lambda request: Reply(body=audio("h", 3 * 2**20),  # noqa: E731
                                 headers={"Content-Type": "audio/mpeg"})
    with RecordingWorld(media=huge) as world:
        result = run(world, "comagic", tmp_path, max_recording_mb=2)
    assert_clean_exit(result)
    assert "larger than max_recording_mb" in result.stderr
    assert files_in(tmp_path / "recordings") == {}


def test_a_bad_file_left_by_an_older_version_is_replaced(tmp_path):
    with RecordingWorld() as world:
        first = run(world, "calltouch", tmp_path)
        assert_clean_exit(first)
        rows = first.records["calltouch_recordings"]
        assert len(rows) >= 3
        broken = [Path(row["path"]) for row in rows[:3]]
        broken[0].write_bytes(b"<html>502</html>")
        broken[1].write_bytes(b"")
        good = broken[2].read_bytes()
        before = len(world.media_requests())
        second = run(world, "calltouch", tmp_path)
        again = len(world.media_requests()) - before
    assert_clean_exit(second)
    assert again == 2  # the two bad files, nothing else
    for path in broken[:2]:
        assert path.read_bytes()[:3] == b"ID3" and len(path.read_bytes()) == 5000
    assert broken[2].read_bytes() == good
    assert "not a whole recording" in second.stderr


# --- redirects -------------------------------------------------------------------------


def test_a_redirect_to_a_file_url_is_refused_with_a_warning(tmp_path):
    secret = tmp_path / "secret.mp3"
    secret.write_bytes(audio("local file"))
    with RecordingWorld(media=lambda request: redirect(secret.as_uri(), 302)) as world:
        result = run(world, "calltouch", tmp_path)
    assert_clean_exit(result)
    assert result.records["calltouch_calls"]
    assert result.records.get("calltouch_recordings", []) == []
    assert "not http(s)" in result.stderr
    assert files_in(tmp_path / "recordings") == {}


def test_a_redirect_to_another_host_carries_no_credential(tmp_path):
    with FakeVendor(good_media) as storage:
        def bounce(request: Request) -> Reply:
            # a CDN redirect that echoes the query string, token included
            query = "&".join(f"{k}={v[0]}" for k, v in request.query.items())
            return redirect(f"{storage.url}{request.path}?{query}&signature=abc", 302)

        with RecordingWorld(media=bounce) as world:
            config = world.config("calltouch", tmp_path / "recordings")
            token = config["calltouch"]["sites"][0]["api_token"]
            result = run(world, "calltouch", tmp_path)
            sent_to_us = [r for r in world.media_requests()]
        elsewhere = list(storage.requests)
    assert_clean_exit(result)
    assert result.records["calltouch_recordings"]
    assert all(r.param("clientApiId") == token for r in sent_to_us)
    assert elsewhere and all(r.param("clientApiId") is None for r in elsewhere)
    assert all(r.param("signature") == "abc" for r in elsewhere)
    assert all(token not in str(r.headers) + str(r.query) for r in elsewhere)


def test_endless_redirects_stop(tmp_path):
    with RecordingWorld(media=lambda request: redirect(request.path + "x", 302)) as world:
        result = run(world, "callkeeper", tmp_path)
        hops = len(world.media_requests())
    assert_clean_exit(result)
    assert "redirects" in result.stderr
    assert hops <= 6 * len(result.records["callkeeper_calls"])


def test_no_token_in_the_output_of_recordings_at_debug_level(tmp_path):
    def refuse_some(request: Request) -> Reply:
        if request.path.endswith("1/download"):
            return Reply(body="<html>login</html>", headers={"Content-Type": "text/html"})
        return good_media(request)

    with RecordingWorld(media=refuse_some) as world:
        config = world.config("calltouch", tmp_path / "recordings")
        token = config["calltouch"]["sites"][0]["api_token"]
        result = run_tap(config, tmp_path / "run", streams={"calltouch_recordings"},
                         env={"LOGLEVEL": "DEBUG", "TAP_CALLTRACK_LOGLEVEL": "DEBUG"})
    assert_clean_exit(result)
    assert "DEBUG" in result.stderr and result.records["calltouch_recordings"]
    assert token not in result.stdout + result.stderr
