"""Unit tests of the normalisations docs/fidelity.md describes."""

from __future__ import annotations

import subprocess

import pytest
from support import console_script

from calltrack_sandbox.protocol import QUIRKS
from calltrack_sandbox.server import parse_quirks
from tap_calltrack.calltouch.streams import fold_site_id
from tap_calltrack.comagic.streams import phone_as_text, record_ids_as_text


def test_the_vendors_site_id_is_folded_into_the_taps():
    row = {"site_id": 41100, "siteId": "41100", "callId": 1}
    fold_site_id(row)
    assert row == {"site_id": 41100, "callId": 1}
    other = {"site_id": 41100, "siteId": 52210}
    fold_site_id(other)
    assert other == {"site_id": 52210}  # the vendor's value: the site the row belongs to
    odd = {"site_id": 41100, "siteId": "n/a"}
    fold_site_id(odd)
    assert odd == {"site_id": 41100}
    untouched = {"site_id": 41100}
    fold_site_id(untouched)
    assert untouched == {"site_id": 41100}


def test_record_ids_become_text_and_text_stays():
    row = {"call_records": [123, "9f86d081884c7d65"], "wav_call_records": [True, None]}
    record_ids_as_text(row)
    assert row == {"call_records": ["123", "9f86d081884c7d65"],
                   "wav_call_records": [True, None]}  # not ids: kept as sent
    empty = {"call_records": None}
    record_ids_as_text(empty)
    assert empty == {"call_records": None}


def test_a_numeric_visitor_phone_becomes_digits():
    row = {"visitor_phone_number": 79161234567}
    phone_as_text(row)
    assert row == {"visitor_phone_number": "79161234567"}


def test_quirks_are_named_and_checked():
    assert parse_quirks("") == frozenset()
    assert parse_quirks(" comagic-stat-data , calltouch-strict-flags ") == {
        "comagic-stat-data", "calltouch-strict-flags"}
    with pytest.raises(ValueError, match="unknown quirk 'nope'"):
        parse_quirks("nope")
    assert all(text for text in QUIRKS.values())


@pytest.mark.e2e
def test_an_unknown_quirk_stops_the_sandbox_with_one_line():
    result = subprocess.run([console_script("calltrack-sandbox"), "--port", "0", "--quirks",
                             "nope", "--print-config"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "unknown quirk 'nope'" in result.stderr and "Traceback" not in result.stderr
