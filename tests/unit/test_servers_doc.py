"""The README's server examples are the configurations the integration test runs (scripts/servers.sh), and its
role example only uses options the role's argument_specs know."""
import os
import pathlib
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIVE = "/etc/autotls/live/mail"


def servers_section():
    text = pathlib.Path(os.path.join(ROOT, "README.md")).read_text()
    start = text.index("## Servers: nginx, Apache, HAProxy, Postfix, Dovecot")
    return text[start:text.index("\n## ", start + 1)]


def blocks(section):
    return re.findall(r"```(\w+)\n(.*?)```", section, re.S)


def normalise(line):
    line = line.strip().replace(LIVE, "$LIVE")
    return re.sub(r"^bind \S+ ssl", "bind ADDR ssl", line)   # addresses and ports are the test's own


def test_each_server_has_a_section_with_its_configuration():
    section = servers_section()
    for server in ("nginx", "Apache", "HAProxy", "Postfix", "Dovecot"):
        assert "\n### %s\n" % server in section
    assert {lang for lang, _body in blocks(section)} >= {"yaml", "nginx", "apache", "haproxy", "postfix", "dovecot"}


def test_server_configuration_lines_are_those_the_integration_test_runs():
    script_text = pathlib.Path(os.path.join(ROOT, "scripts", "servers.sh")).read_text()
    script = {normalise(line) for line in script_text.splitlines()}
    checked = 0
    for lang, body in blocks(servers_section()):
        if lang not in ("apache", "haproxy", "postfix", "dovecot"):
            continue   # nginx: the stack's instance, configured by the test itself
        for line in body.splitlines():
            if line.strip() and not line.strip().startswith("#"):
                assert normalise(line) in script, "README %s line %r is not in scripts/servers.sh" % (lang, line)
                checked += 1
    assert checked >= 9


def test_role_example_uses_known_options():
    specs = yaml.safe_load(pathlib.Path(ROOT, "roles", "certificate", "meta", "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]["certificate_list"]["options"]
    [example] = [yaml.safe_load(body) for lang, body in blocks(servers_section()) if lang == "yaml"]
    for entry in example["certificate_list"]:
        assert set(entry) <= set(options), set(entry) - set(options)
        endpoint_options = options["verify_endpoints"]["options"]
        for endpoint in entry["verify_endpoints"]:
            assert set(endpoint) <= set(endpoint_options)
            assert endpoint.get("starttls") in [None] + endpoint_options["starttls"]["choices"]
