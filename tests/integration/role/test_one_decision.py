"""Issue 9: one renewal decision. Spellings of the same names never make a certificate due again."""
import os

import pytest

from .conftest import HOSTS, new_orders, recap_changed

pytestmark = pytest.mark.role


def test_three_runs_with_spellings_of_the_same_names_order_once(fleet):
    """The issue's reproduction: site.yml three times with ["I1.Example.com.", "i1.example.com",
    "www.i1.example.com"]; Pebble's own log must show exactly one order, and runs 2 and 3 change nothing."""
    fleet.certificates[:] = [{"name": "i1", "identifiers": ["I1.Example.com.", "i1.example.com", "www.i1.example.com"],
                              "services": ["nginx"]}]
    fleet.write_inventory()
    fleet.write_sites()
    orders = new_orders()
    outputs = [fleet.site() for _run in range(3)]
    assert new_orders() == orders + 1, "Pebble's log shows %d orders" % (new_orders() - orders)
    for out in outputs[1:]:
        assert set(recap_changed(out).values()) == {0}, out[-3000:]
    pointer = fleet.stored_pointer("i1")
    assert sorted(pointer["identifiers"]) == ["i1.example.com", "www.i1.example.com"]   # stored canonical
    for addr in HOSTS.values():
        assert fleet.served(addr, "i1.example.com") == pointer["serial"]
    # the deployed key's directory is private
    live = os.path.join(fleet.deploy_dir("web1"), "i1")
    assert oct(os.stat(live).st_mode & 0o777) in ("0o700", "0o750")
