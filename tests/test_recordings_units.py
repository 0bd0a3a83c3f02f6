"""The downloader's pieces: names, containment, audio checks, redirects, temporaries."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from fake_server import FakeVendor, Reply, Request
from recording_world import audio

from tap_calltrack.http import VendorHttp
from tap_calltrack.recordings import (
    MAX_NAME,
    RecordingRef,
    inside,
    keeps_credentials,
    looks_like_audio,
    recording_path,
    safe_name,
    save,
    sweep_temporaries,
    temporary_name,
    url_part,
    whole_file_on_disk,
    without_credentials,
)
from tap_calltrack.settings import ConfigError, VendorLimits, check_common

SAFE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@pytest.mark.parametrize("plain", ["123", "20000000000000042", "a.b-c_d", "X9"])
def test_plain_ids_keep_their_names(plain):
    assert safe_name(plain) == plain


@pytest.mark.parametrize("hostile", ["../../x", "..", ".", "a/b", "a\\b", "bad\x00id",
                                     "9" * 300, ".hidden", "Дилеры", "", "a..b", "x y"])
def test_hostile_ids_become_safe_bounded_distinct_names(hostile):
    name = safe_name(hostile)
    assert set(name) <= SAFE_CHARS and ".." not in name and not name.startswith(".")
    assert 0 < len(name) <= MAX_NAME
    assert name != safe_name(hostile + "1")


def test_names_of_several_ids_never_collide():
    assert safe_name(77, 701) == "77_701"
    assert safe_name("1_2", "3") != safe_name("1", "2_3")
    assert safe_name("a/b") != safe_name("a_b")


def test_a_path_must_resolve_inside_the_root(tmp_path):
    root = tmp_path / "rec"
    assert inside(root, "calltouch/1/2.mp3") == (root / "calltouch/1/2.mp3").resolve()
    assert inside(root, recording_path("comagic", safe_name("../../x"), "../y")) is not None
    for escape in ("../x.mp3", "a/../../x.mp3", "/etc/passwd", "a/\x00.mp3", "", "."):
        assert inside(root, escape) is None, escape
    (tmp_path / "elsewhere").mkdir()
    root.mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere")
    assert inside(root, "link/x.mp3") is None


@pytest.mark.parametrize(("head", "ok"), [
    (b"ID3\x04\x00\x00\x00\x00\x00\x00ab", True),
    (b"\xff\xfb\x90\x64" + b"\x00" * 8, True),
    (b"RIFF\x24\x08\x00\x00WAVEfmt ", True),
    (b"OggS\x00\x02" + b"\x00" * 6, True),
    (b"<!DOCTYPE html>", False), (b'{"error": 1}', False), (b"", False),
    (b"RIFF\x24\x08\x00\x00AVI LIST", False), (b"\xff\x00", False),
])
def test_audio_is_told_by_its_first_bytes(head, ok):
    assert looks_like_audio(head) is ok


def test_a_file_on_disk_is_whole_only_when_it_looks_like_audio(tmp_path):
    path = tmp_path / "a.mp3"
    assert not whole_file_on_disk(path)
    path.write_bytes(b"")
    assert not whole_file_on_disk(path)
    path.write_bytes(b"<html></html>")
    assert not whole_file_on_disk(path)
    path.write_bytes(audio("x"))
    assert whole_file_on_disk(path)


def test_credentials_stay_with_their_host():
    origin = "https://api.calltouch.ru/calls-service/x"
    assert keeps_credentials(origin, "https://api.calltouch.ru/other")
    assert keeps_credentials(origin, "https://API.calltouch.ru:443/other")
    assert not keeps_credentials(origin, "https://cdn.calltouch.ru/x")
    assert not keeps_credentials(origin, "http://api.calltouch.ru/x")  # no downgrade
    assert not keeps_credentials(origin, "https://api.calltouch.ru:8443/x")
    stripped = without_credentials("https://cdn.example/x?clientApiId=T0K&sig=1&t=T0K",
                                   {"clientApiId": "T0K"})
    assert stripped == "https://cdn.example/x?sig=1"
    signed = "https://s3.example/x?X-Amz-Signature=a%2Fb~c&clientApiId=T%30K&e=1"
    assert without_credentials(signed, {"clientApiId": "T0K"}) == \
        "https://s3.example/x?X-Amz-Signature=a%2Fb~c&e=1"


def test_ids_in_urls_are_one_segment():
    assert url_part("../../x") == "..%2F..%2Fx"
    assert url_part("..") == "%2E%2E" and url_part(".") == "%2E"
    assert url_part(123) == "123"


def test_temporary_names_differ_per_download(tmp_path):
    target = tmp_path / "x.mp3"
    names = {temporary_name(target) for _ in range(50)}
    assert len(names) == 50
    assert all(name.parent == tmp_path and name.name.startswith(".x.mp3.") for name in names)


def test_temporaries_of_dead_processes_are_swept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".a.mp3.{dead}-1-abcd1234.part"
    live = tmp_path / f".b.mp3.{os.getpid()}-1-abcd1234.part"
    kept = tmp_path / "c.mp3"
    for path in (stale, live, kept):
        path.write_bytes(b"x")
    sweep_temporaries(tmp_path)
    assert not stale.exists() and live.exists() and kept.exists()


@pytest.mark.e2e
def test_two_downloads_of_one_file_at_once_leave_one_intact_file(tmp_path):
    body = audio("same", 400_000)
    started = threading.Barrier(2)

    def slow(request: Request) -> Reply:
        return Reply(chunks=[body[i:i + 20_000] for i in range(0, len(body), 20_000)],
                     headers={"Content-Type": "audio/mpeg"}, delay=0.05)

    http = VendorHttp("test", VendorLimits(100.0, 4, 2, 10.0), "test")
    outcomes = []
    with FakeVendor(slow) as fake:
        ref = RecordingRef("v/a/same.mp3", f"{fake.url}/same", {"id": 1})

        def one() -> None:
            started.wait()
            outcomes.append(save(http, ref, tmp_path, "test"))

        threads = [threading.Thread(target=one) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(fake.requests) == 2  # both downloads ran, side by side
    http.close()
    assert [o.failed for o in outcomes] == [False, False]
    assert (tmp_path / "v/a/same.mp3").read_bytes() == body
    assert len({o.row["sha256"] for o in outcomes if o.row}) == 1
    assert [p.name for p in (tmp_path / "v/a").iterdir()] == ["same.mp3"]


@pytest.mark.parametrize("value", [0, -1, "500", True, float("nan")])
def test_max_recording_mb_must_be_a_positive_number(value):
    config = {"start_date": "2024-01-01", "max_recording_mb": value}
    with pytest.raises(ConfigError, match="max_recording_mb"):
        check_common(config)
    check_common({**config, "max_recording_mb": 0.5})
