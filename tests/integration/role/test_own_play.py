"""The role in a user's own play: a group not named `web`, the user's handlers, variable precedence;
site.yml and renew.yml take their hosts from certificate_hosts and refuse to do nothing."""
import os

import pytest

from ..conftest import ROOT
from .conftest import HOSTS, RENEW, new_orders, recap_changed

pytestmark = pytest.mark.role

OWN_PLAY = """---
- name: The user's own play, on a group that is not called web
  hosts: webservers
  gather_facts: false
  tasks:
    - name: A change of the user's that notifies the user's handler
      ansible.builtin.command: "true"
      changed_when: true
      notify: User handler

    - name: The certificate role
      ansible.builtin.import_role:
        name: autotls.acme.certificate
      vars:
        certificate_webroot: "{{ {'web1': '%(web1)s', 'web2': '%(web2)s'}[inventory_hostname] }}"

    - name: After the role
      ansible.builtin.debug:
        msg: AFTER THE ROLE

  handlers:
    - name: User handler
      ansible.builtin.debug:
        msg: USER HANDLER RAN
    - name: User listener of the role's topic
      ansible.builtin.debug:
        msg: USER LISTENER RAN
      listen: autotls certificate changed
"""


def first(output, text):
    assert text in output, output[-6000:]
    return output.index(text)


def test_own_play_on_webservers_handlers_and_precedence(fleet):
    fleet.group = "webservers"
    real = {}
    for host, addr in HOSTS.items():
        # the inventory names a webroot nobody serves; the value given to the role must win
        fleet.host_vars[host]["certificate_webroot"] = os.path.join(fleet.workdir, "not-served-" + host)
        real[host] = os.path.join(ROOT, "build", "stack", "webroot-" + addr)
    fleet.write_inventory()
    playbook = os.path.join(fleet.workdir, "own_play.yml")
    with open(playbook, "w") as handle:
        handle.write(OWN_PLAY % real)
    orders = new_orders()
    out = fleet.site(playbook=playbook)
    assert new_orders() == orders + 1
    for host, addr in HOSTS.items():
        assert fleet.served(addr) == fleet.stored_serial()
        assert not os.path.exists(fleet.host_vars[host]["certificate_webroot"])  # never used
    # The role reloads nginx itself, inside the role; it does not flush the play's handlers: the user's
    # handler and the user's listener of `autotls certificate changed` run at the end of the play.
    reload_at = first(out, "TASK [autotls.acme.certificate : Reload services using a changed certificate]")
    after_role = first(out, "AFTER THE ROLE")
    assert reload_at < after_role < first(out, "USER HANDLER RAN")
    assert after_role < first(out, "USER LISTENER RAN")
    assert "RUNNING HANDLER" not in out[:after_role]

    # Again, with nothing to do: the role ends early on both hosts (meta end_role), the user's play goes on
    out = fleet.site(playbook=playbook)
    assert new_orders() == orders + 1
    ended = first(out, "TASK [autotls.acme.certificate : End a run that had nothing to do]")
    assert "work.yml" not in out and ended < first(out, "AFTER THE ROLE")
    assert out.count('"msg": "AFTER THE ROLE"') == 2 and "USER HANDLER RAN" in out, out[-3000:]

    # site.yml / renew.yml on this inventory: certificate_hosts (in the inventory's all vars) selects the group.
    for host in HOSTS:
        fleet.host_vars[host]["certificate_webroot"] = real[host]  # renew.yml gives the role no webroot
    out = fleet.renew(expect_rc=2)  # not set: `web` matches nothing, and the run says so
    assert "certificate_hosts: the pattern 'web' matches no host" in out and "webservers" in out
    fleet.all_vars["certificate_hosts"] = "webservers"
    fleet.write_inventory()
    out = fleet.renew()
    assert set(recap_changed(out).values()) == {0} and new_orders() == orders + 1
    assert "web1" in recap_changed(out) and "web2" in recap_changed(out)
    # A run that manages no certificate fails saying so.
    fleet.write_inventory(certificate_list=[])
    out = fleet.site(playbook=RENEW, expect_rc=2)
    assert "certificate_list is empty" in out and "manages no certificate" in out
