"""The report is written on every run: a reload that fails and a verification that fails still leave a
status file, metrics and a webhook call from that run, and the first error names the real cause."""
import json
import os
import pathlib
import re
import time

import pytest

from .conftest import HOSTS, nginx_cmd
from . import test_renew

pytestmark = pytest.mark.role
webhook = test_renew.webhook  # the receiving HTTP server, as a fixture of this module too


@pytest.fixture
def reported(fleet, webhook):  # pylint: disable=redefined-outer-name
    fleet.status = os.path.join(fleet.workdir, "status.json")
    fleet.metrics = os.path.join(fleet.workdir, "autotls.prom")
    fleet.write_inventory(certificate_status_file=fleet.status, certificate_metrics_file=fleet.metrics,
                          certificate_webhook_url=webhook[0])
    fleet.site()
    fleet.received = webhook[1]
    del fleet.received[:]
    # due on the next run
    fleet.certificates[0]["renew_before_days"] = fleet.due_by_policy(fleet.certificates[0]["name"])
    return fleet


def first_error(output):
    match = re.search(r"^(fatal|failed): .*$", output, re.M)
    assert match, output[-4000:]
    return match.group(0)


def assert_reported(fleet, started, cause, action="failed"):
    assert os.path.getmtime(fleet.status) >= started and os.path.getmtime(fleet.metrics) >= started
    site = json.loads(pathlib.Path(fleet.status).read_text())["certificates"][0]
    assert site["action"] == action and site["alert"] and cause in site["why"], site
    metrics = pathlib.Path(fleet.metrics).read_text()
    assert 'autotls_certificate_alert{name="site"} 1' in metrics
    last_run = int(re.search(r"^autotls_renewal_last_run_timestamp_seconds (\d+)$", metrics, re.M).group(1))
    assert last_run >= int(started)
    assert [alert["certificate"] for alert in fleet.received] == ["site"]
    assert cause in fleet.received[0]["error"]


def test_failed_reload_is_reported(reported):
    before = reported.served(HOSTS["web1"])
    reported.write_sites({"web1": "this_is_not_an_nginx_directive on;\n"})  # web1's configuration is broken
    reported.write_inventory()
    started = time.time()
    out = reported.renew(expect_rc=2)
    # the first error is nginx's own configuration test output
    error = first_error(out)
    assert "web1" in error and "this_is_not_an_nginx_directive" in error, error
    assert_reported(reported, started, "this_is_not_an_nginx_directive")
    assert "renewed, but" in json.loads(pathlib.Path(reported.status).read_text())["certificates"][0]["why"]
    assert reported.served(HOSTS["web1"]) == before  # web1 goes on serving its previous certificate
    assert reported.served(HOSTS["web2"]) == reported.stored_serial() != before  # web2 is done


def test_failed_verification_is_reported(reported):
    before = reported.served(HOSTS["web1"])
    # web1's reload command does nothing: nginx keeps serving the old certificate
    reported.host_vars["web1"]["certificate_service_commands"] = {
        "nginx": {"check": nginx_cmd(HOSTS["web1"], "-t", "-q"), "reload": "true"}}
    reported.write_inventory()
    started = time.time()
    out = reported.renew(expect_rc=2)
    error = first_error(out)
    # the first error: the TLS comparison naming the host, the address and both serials
    assert re.search(r"^fatal: \[web1\b.*127.0.0.1:\d+ \(SNI site.example.com\) serves serial 0*%s, expected "
                     % before.lstrip("0"), error, re.I), error
    # renewed and stored, but web1 still serves the old one: an alert in the same run
    assert_reported(reported, started, "still served wrong after a reload", action="renewed")
    assert reported.served(HOSTS["web2"]) == reported.stored_serial()
