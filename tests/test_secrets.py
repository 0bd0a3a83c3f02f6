"""Secrets never leave the process: masked in records as well as logs, in every written
form (as is, URL-encoded, JSON-escaped), while short or word-like secrets are masked only
in secret positions so that ordinary words in the log stay readable."""

from __future__ import annotations

import json
import os
import subprocess
from urllib.parse import quote, quote_plus

import pytest
import requests
from fake_server import FakeVendor, Reply, Request
from input_fakes import calls_only, calls_page, calltouch_call, calltouch_config, catalog_selecting
from support import console_script, write_json

from tap_calltrack.redaction import Redactor, is_strong, written_forms

DEBUG = {"LOGLEVEL": "DEBUG", "TAP_CALLTRACK_LOGLEVEL": "DEBUG"}
STRONG = 'Tok"en/with+special=chars&canary-91'
WEAK = "calltrack"  # an ordinary word, and part of the tap's own name


# --- the redactor ----------------------------------------------------------------------

def test_every_written_form_of_a_strong_secret_is_masked():
    redact = Redactor()
    redact.add([STRONG])
    for form in (STRONG, quote(STRONG, safe=""), quote_plus(STRONG), json.dumps(STRONG),
                 json.dumps(json.dumps(STRONG))):
        masked = redact(f"before {form} after")
        assert masked.startswith("before ") and masked.endswith(" after"), form
        for fragment in ("en/with", "special", "canary-91"):
            assert fragment not in masked, (form, masked)


def test_a_password_with_a_quote_leaks_no_tail_from_a_logged_body():
    redact = Redactor()
    secret = 'pa"ss-Canary-Tail-77'
    redact.add([secret])
    body = json.dumps({"login": "u", "password": secret})
    for text in (body, json.dumps(body), repr({"password": secret})):
        assert "Tail-77" not in redact(text) and "Canary" not in redact(text), text


@pytest.mark.parametrize("secret", ["calltrack", "Calltrack", "123456", "abc", "okna"])
def test_word_like_secrets_are_masked_only_in_secret_positions(secret):
    assert not is_strong(secret)
    redact = Redactor()
    redact.add([secret])
    line = f"tap-calltrack okna 123456 abc: GET /x?clientApiId={secret}&page=1"
    masked = redact(line)
    assert masked.startswith("tap-calltrack okna 123456 abc: ")
    assert masked.endswith("clientApiId=***&page=1")
    assert redact(json.dumps({"password": secret, "x": 1})) == '{"password": "***", "x": 1}'
    assert redact(f"(field password = {secret})") == "(field password = ***)"
    assert redact(f"/api/?json/v3/{secret}/call/get/1") == "/api/?json/v3/***/call/get/1"


def test_serialized_messages_are_masked_as_bytes():
    redact = Redactor()
    redact.add([STRONG, WEAK])
    line = json.dumps({"type": "RECORD", "record": {
        "comment": f"echo {STRONG} end", "url": f"https://x/?clientApiId={quote(STRONG)}",
        "weak": f"https://x/?clientApiId={WEAK}&y=1", "name": "tap-calltrack"}},
        ensure_ascii=False).encode()
    record = json.loads(redact.mask_bytes(bytearray(line)))["record"]
    assert record == {"comment": "echo *** end", "url": "https://x/?clientApiId=***",
                      "weak": "https://x/?clientApiId=***&y=1", "name": "tap-calltrack"}
    untouched = b'{"type":"RECORD","record":{"a":"nothing secret here"}}\n'
    assert redact.mask_bytes(bytearray(untouched)) == untouched


def test_written_forms_include_url_and_json_escapes():
    forms = written_forms('a"b c/d')
    assert {'a"b c/d', "a%22b%20c%2Fd", "a%22b+c%2Fd", 'a\\"b c/d'} <= forms


# --- end to end ------------------------------------------------------------------------

def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([console_script("tap-calltrack"), *args], capture_output=True,
                          text=True, timeout=600, env={**os.environ, **env})


def all_forms(secrets: list[str]) -> set[str]:
    return {form for secret in secrets for form in written_forms(secret)}


@pytest.mark.e2e
def test_calltouch_records_echoing_tokens_are_masked(tmp_path):
    def echo_token(request: Request) -> Reply:
        token = request.param("clientApiId") or ""
        return calls_page([calltouch_call(
            1, "02/01/2024", comment=f"echo {token} end",
            callUrl=f"https://api.calltouch.ru/x?clientApiId={quote(token, safe='')}&a=1",
            raw_json=json.dumps({"token_seen": token}))])

    with FakeVendor(calls_only(echo_token)) as fake:
        config = calltouch_config(fake.url)
        config["calltouch"]["sites"] = [
            {"site_id": 1, "api_token": STRONG, "name": "strong"},
            {"site_id": 2, "api_token": WEAK, "name": "weak"},
        ]
        catalog = catalog_selecting(config, tmp_path, {"calltouch_calls"})
        result = run(["--config", str(write_json(tmp_path / "c.json", config)),
                      "--catalog", str(catalog)], DEBUG)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| DEBUG " in result.stderr
    for form in all_forms([STRONG]):
        assert form not in result.stdout and form not in result.stderr, form
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    records = {m["record"]["site_id"]: m["record"] for m in messages if m["type"] == "RECORD"}
    assert records[1]["comment"] == "echo *** end"
    assert records[1]["callUrl"] == "https://api.calltouch.ru/x?clientApiId=***&a=1"
    assert "canary" not in records[1]["raw_json"] and "special" not in records[1]["raw_json"]
    # The word-like token: masked where it is a token, readable elsewhere.
    assert records[2]["callUrl"] == "https://api.calltouch.ru/x?clientApiId=***&a=1"
    assert f"clientApiId={WEAK}" not in result.stderr + result.stdout
    assert "tap-calltrack v" in result.stderr
    assert "tap-***" not in result.stderr and "***track" not in result.stderr
    states = json.dumps([m for m in messages if m["type"] == "STATE"])
    assert STRONG not in states and WEAK not in states


class ComagicProxy:
    """Forwards to the sandbox's Comagic API and echoes each request's access_token into
    every report row (a hostile vendor); a login of ``fancy_login`` is refused with an
    error that quotes the request body."""

    def __init__(self, sandbox_url: str, fancy_login: str) -> None:
        self.sandbox_url = sandbox_url
        self.fancy_login = fancy_login

    def __call__(self, request: Request) -> Reply:
        body = request.json()
        params = body.get("params") or {}
        if body.get("method") == "login.user" and params.get("login") == self.fancy_login:
            text = request.body.decode()
            return Reply(json={"jsonrpc": "2.0", "id": body.get("id"), "error": {
                "code": -32001, "message": f"Login or password is wrong: {text}",
                "data": {"mnemonic": "auth_error", "field": "password",
                         "value": params.get("password")}}})
        answer = requests.post(self.sandbox_url + request.path, data=request.body,
                               headers={"Content-Type": "application/json"}, timeout=30)
        payload = answer.json()
        token = params.get("access_token") or ""
        rows = (payload.get("result") or {}).get("data")
        if isinstance(rows, list):
            for row in rows:
                if isinstance(row, dict):
                    row["echo"] = f"seen {token} here"
        return Reply(status=answer.status_code, json=payload)


@pytest.mark.e2e
def test_comagic_records_echoing_tokens_and_a_quoted_password_are_masked(sandbox, tmp_path):
    fancy = 'pa"ss\\word-Canary-Tail-77'
    config = sandbox.config(start_date="2024-01-01", end_date="2024-01-03", lookback_days=0)
    config = {key: config[key] for key in ("start_date", "end_date", "lookback_days", "comagic")}
    secrets = [str(value) for account in config["comagic"]["accounts"]
               for key, value in account.items() if key in ("access_token", "password")]
    config["comagic"]["accounts"].append({"login": "fancy", "password": fancy,
                                          "name": "fancy"})
    with FakeVendor(ComagicProxy(sandbox.url, "fancy")) as fake:
        prefix = sandbox.url
        config["comagic"]["api_url"] = config["comagic"]["api_url"].replace(prefix, fake.url)
        catalog = catalog_selecting(config, tmp_path, {"comagic_calls"})
        result = run(["--config", str(write_json(tmp_path / "c.json", config)),
                      "--catalog", str(catalog)], DEBUG)
    assert result.returncode == 1, result.stderr[-3000:]  # the fancy account was refused
    assert "| DEBUG " in result.stderr
    for form in all_forms([*secrets, fancy]):
        assert form not in result.stdout and form not in result.stderr, form
    for fragment in ("Canary", "Tail-77", "word-"):
        assert fragment not in result.stdout + result.stderr, fragment
    records = [json.loads(line)["record"] for line in result.stdout.splitlines()
               if '"type":"RECORD"' in line]
    echoed = [r["echo"] for r in records if "echo" in r]
    assert echoed and set(echoed) == {"seen *** here"}
    refused = [line for line in result.stderr.splitlines() if "fancy" in line and
               "stopped" in line]
    assert refused, result.stderr[-3000:]

