"""The stand-in providers (tests/engine/provider.py) hold a replace-or-update decision, from the real
providers' schemas, for every property the program sets: a property added to the program without one fails
here, rather than pass the engine tests as an in-place update real AWS might not make."""

from __future__ import annotations

import pulumi
import pytest

from tests.engine import provider
from tests.stack import everything, run_program
from tests.test_infra import EVERY_OPTION

# Between them, these set every property the program can set: every option, and the other domain and
# alarm paths (a hosted zone to validate a certificate in; unique visitors; expiry; traffic alarms).
PROGRAMS = {
    "every-option": {**EVERY_OPTION, "uniqueVisitors": True, "routeExpiryDays": 30},
    "domain-in-a-hosted-zone": {"domainName": "count.example.com", "hostedZoneId": "Z0123456789ABC",
                                "alarmEmail": "ops@example.com", "trafficAlarm": 5000, "trafficAnomaly": True},
}


@pytest.mark.parametrize("name", list(PROGRAMS))
@pulumi.runtime.test
def test_every_property_the_program_sets_has_a_replace_or_update_decision(name):
    recorder, program = run_program(**PROGRAMS[name])

    def check(_):
        undecided = sorted(
            f"{r.type} {prop}" for r in recorder.resources.values() if not r.type.startswith("route-counter:")
            for prop in r.inputs
            if prop not in provider.FORCE_NEW.get(r.type, set()) | provider.UPDATABLE.get(r.type, set())
            | provider.ALWAYS_UPDATABLE)
        assert not undecided, "no replace-or-update decision in tests/engine/provider.py for: " + ", ".join(undecided)

    return everything(program["route_counter"]).apply(check)


def test_no_property_is_both_replaced_and_updated():
    for typ, props in provider.UPDATABLE.items():
        assert not props & provider.FORCE_NEW.get(typ, set()), typ
