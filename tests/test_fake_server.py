"""The hostile fake server itself answers as scripted (so tests built on it can fail)."""

from __future__ import annotations

import pytest
import requests
from fake_server import FakeVendor, Reply, Request, redirect

pytestmark = pytest.mark.e2e


def test_scripted_answers_and_recorded_requests():
    def respond(request: Request) -> Reply:
        if request.path == "/json":
            return Reply(json={"ok": request.param("a")})
        if request.path == "/chunks":
            return Reply(chunks=[b"ab", b"cd"])
        if request.path == "/reset":
            return Reply(body=b"x" * 1000, reset_after=10)
        if request.path == "/short":
            return Reply(body=b"abc", content_length=10)
        return redirect("http://127.0.0.1:1/elsewhere")

    with FakeVendor(respond) as fake:
        assert requests.get(f"{fake.url}/json?a=1", timeout=5).json() == {"ok": "1"}
        assert requests.get(f"{fake.url}/chunks", timeout=5).content == b"abcd"
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(f"{fake.url}/reset", timeout=5).content  # noqa: B018
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(f"{fake.url}/short", timeout=5).content  # noqa: B018
        answer = requests.post(f"{fake.url}/r", json={"k": 1}, timeout=5,
                               allow_redirects=False)
        assert answer.status_code == 307
        assert fake.requests[-1].json() == {"k": 1}
        assert fake.paths() == ["/json", "/chunks", "/reset", "/short", "/r"]
