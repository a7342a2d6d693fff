"""Two CAs in one play, as the README's "Two CAs or two accounts in one play" shows: the role included twice,
each inclusion with its own ACME directory, account key, certificates and status file, sharing one storage.
nginx serves the first CA's certificate; the second CA's goes to files no server here loads yet (a server
configuration naming files of both inclusions cannot load before both exist: see the README)."""
import json
import os
import pathlib
import subprocess

import pytest
import yaml

from .conftest import HOSTS, new_orders
from .test_dns01 import DNS_PEBBLE_LOG

pytestmark = pytest.mark.role


def test_the_role_twice_with_two_cas_and_two_accounts_sharing_one_storage(fleet, stack):
    fleet.certificates[:] = [{"name": "site", "identifiers": ["site.example.com"], "services": ["nginx"]}]
    fleet.write_sites()          # nginx serves the first CA's certificate
    fleet.certificates.append({"name": "www-second", "identifiers": ["www.web.test"], "services": [],
                               "verify": False})
    fleet.write_inventory()      # the inventory as the README shows it; the play gives each inclusion its CA
    status = [os.path.join(fleet.workdir, "status-%d.json" % index) for index in (1, 2)]
    play = [{
        "name": "Certificates from two CAs",
        "hosts": "web",
        "gather_facts": False,
        "roles": [
            {"role": "autotls.acme.certificate",
             "vars": {"certificate_list": [fleet.certificates[0]], "certificate_status_file": status[0]}},
            {"role": "autotls.acme.certificate",
             "vars": {"certificate_acme_directory": stack["ACME_DNS_DIRECTORY"],
                      "certificate_account_key_path": os.path.join(fleet.workdir, "second-account.key"),
                      "certificate_list": [fleet.certificates[1]], "certificate_status_file": status[1]}},
        ],
    }]
    playbook = os.path.join(fleet.workdir, "two_cas.yml")
    pathlib.Path(playbook).write_text(yaml.safe_dump(play, sort_keys=False))
    first_ca, second_ca = new_orders(), new_orders(DNS_PEBBLE_LOG)
    fleet.site(playbook=playbook)
    assert new_orders() == first_ca + 1 and new_orders(DNS_PEBBLE_LOG) == second_ca + 1   # each CA's own log
    for host, addr in HOSTS.items():
        assert fleet.served(addr) == fleet.stored_serial("site")          # chain verified to the first CA's root
        live = os.path.join(fleet.deploy_dir(host), "www-second")
        leaf, sep, chain = pathlib.Path(live, "fullchain.pem").read_text().partition("-----END CERTIFICATE-----\n")
        pathlib.Path(fleet.workdir, "leaf.pem").write_text(leaf + sep)
        pathlib.Path(fleet.workdir, "chain.pem").write_text(chain)
        verified = subprocess.run(["openssl", "verify", "-CAfile", stack["PEBBLE_DNS_ROOT"], "-untrusted",
                                   os.path.join(fleet.workdir, "chain.pem"), os.path.join(fleet.workdir, "leaf.pem")],
                                  capture_output=True, text=True, check=False)
        assert verified.returncode == 0, verified.stderr                  # the second CA's root, not the first's
        serial = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in",
                                 os.path.join(fleet.workdir, "leaf.pem")], capture_output=True, text=True,
                                check=True).stdout.strip().split("=")[1]
        assert int(serial, 16) == int(fleet.stored_serial("www-second"), 16)
    accounts = [pathlib.Path(fleet.workdir, name).read_bytes() for name in ("account.key", "second-account.key")]
    assert accounts[0] != accounts[1]
    for path, name in zip(status, ("site", "www-second")):
        assert [item["name"] for item in json.loads(pathlib.Path(path).read_text())["certificates"]] == [name]
    # The same play again orders nothing at either CA.
    fleet.site(playbook=playbook)
    assert new_orders() == first_ca + 1 and new_orders(DNS_PEBBLE_LOG) == second_ca + 1
