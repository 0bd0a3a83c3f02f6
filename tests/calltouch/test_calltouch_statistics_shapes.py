"""Statistics answers: the documented shapes, and an empty list read as "no counts"."""

from __future__ import annotations

import pytest

from tap_calltrack.calltouch.client import checked_statistic
from tap_calltrack.http import ProtocolError


def test_empty_list_is_no_counts_but_never_a_total():
    assert checked_statistic("count-by-date", []) == {}
    assert checked_statistic("seo/count-by-keywords", {"окна": "3"}) == {"окна": "3"}
    assert checked_statistic("total-count", 12) == 12
    for kind, body in (("total-count", []), ("count-by-date", [1]), ("count-by-date", "x"),
                       ("count-by-date", {"01/01/2024": True})):
        with pytest.raises(ProtocolError):
            checked_statistic(kind, body)
