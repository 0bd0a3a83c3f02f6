"""Item 2: Comagic field negotiation survives refusals raced by requests in flight, names
joined by commas or given in the message, and a refused field a stream needs."""

from __future__ import annotations

import pytest
from fake_server import FakeVendor, Reply, Request
from hostile_world import World, comagic_token, config, error_lines, rpc_error
from support import run_tap

pytestmark = pytest.mark.e2e

STREAMS = {"comagic_communications", "comagic_goals"}


def only_comagic(fake: FakeVendor) -> dict:
    return config(fake, calltouch=None, callkeeper=None,
                  comagic={"max_concurrent_requests": 3})


def test_refusals_in_flight_together_and_of_several_fields_drop_each_once(tmp_path):
    refused: list[tuple[str, ...]] = []

    def refuse(request: Request, kind: str) -> Reply | None:
        if kind != "comagic get.communications_report":
            return None
        fields = request.json()["params"]["fields"]
        if "gclid" in fields or "yclid" in fields:
            refused.append(("gclid", "yclid"))
            # slow: the other windows' requests are in flight with the same fields
            return Reply(delay=0.3, json=rpc_error(
                "unexpected_parameters", "Unexpected parameters", field="fields",
                value="gclid,yclid").json)
        if "ymclid" in fields:
            refused.append(("ymclid",))
            return rpc_error("unexpected_parameters", 'Unknown field "ymclid"')
        return None

    with FakeVendor(World(refuse)) as fake:
        run = run_tap(only_comagic(fake), tmp_path, streams=STREAMS)
        sent = [r.json()["params"]["fields"] for r in fake.requests
                if World.kind(r) == "comagic get.communications_report"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.records["comagic_communications"]) == 6
    assert refused.count(("gclid", "yclid")) >= 2, "the refusals did not race"
    assert all(not {"gclid", "yclid", "ymclid"} & set(fields) for fields in sent[-6:])
    warnings = [line for line in run.stderr.splitlines() if "does not know field" in line]
    assert len(warnings) == 2, warnings  # once per refusal, for every account of the run
    assert "'gclid', 'yclid'" in warnings[0] and "'ymclid'" in warnings[1]
    # remembered for the run: the second account never asks for the dropped fields
    beta = [r.json()["params"]["fields"] for r in fake.requests
            if World.kind(r) == "comagic get.communications_report"
            and comagic_token(r) == "cm-token-b"]
    assert beta and all(not {"gclid", "yclid", "ymclid"} & set(f) for f in beta)


def test_a_refused_field_the_stream_needs_stops_that_stream_for_that_account(tmp_path):
    def refuse(request: Request, kind: str) -> Reply | None:
        if kind == "comagic get.communications_report" and \
                comagic_token(request) == "cm-token-b":
            return rpc_error("unexpected_parameters", "Unexpected parameters",
                             field="fields", value="communication_type")
        return None

    with FakeVendor(World(refuse)) as fake:
        run = run_tap(only_comagic(fake), tmp_path, streams=STREAMS)
    assert run.returncode == 1, run.stderr[-3000:]
    accounts = {r["account"] for r in run.records["comagic_communications"]}
    assert accounts == {"Alpha"}
    assert len(run.records["comagic_goals"]) == 6
    lines = error_lines(run.stderr, "comagic_communications [Beta]", "stopped for")
    assert len(lines) == 1 and "communication_type" in lines[0], lines
