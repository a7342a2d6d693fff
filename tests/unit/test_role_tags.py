"""The role's steps carry tags; validation and the storage lookup run whenever a step needs them."""
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = {"validate", "lookup", "issue", "deploy", "reload", "verify", "report"}


def list_tasks(tmp_path, *args):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  children:\n    web:\n      hosts:\n        web1:\n"
                         "          ansible_connection: local\n"
                         "          ansible_python_interpreter: %s\n" % sys.executable)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory), os.path.join(ROOT, "playbooks", "site.yml"),
                           "--list-tasks"] + list(args), capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def tags_of(output):
    found = set()
    for line in output.splitlines():
        match = re.search(r"TAGS: \[([^\]]*)\]", line)
        if match and "TASK TAGS" not in line:
            found.update(t.strip() for t in match.group(1).split(",") if t.strip())
    return found


def test_every_step_is_tagged(tmp_path):
    # work.yml holds the steps of a run that has something to do; it is included only then (a dynamic include,
    # which --list-tasks does not open), so its tasks' own tags are read from the file
    with open(os.path.join(ROOT, "roles", "certificate", "tasks", "work.yml"), encoding="utf-8") as handle:
        work = yaml.safe_load(handle)
    listed = tags_of(list_tasks(tmp_path))
    assert listed | {tag for task in work for tag in task.get("tags", [])} >= STEPS


def test_tags_validate_runs_only_the_checks(tmp_path):
    output = list_tasks(tmp_path, "--tags", "validate")
    role_tasks = [line for line in output.splitlines() if "certificate :" in line]
    assert role_tasks, output
    assert not [line for line in role_tasks if re.search(r"TAGS: \[[^\]]*\b(issue|deploy|verify|report)\b", line)]
    assert "Put the hosts that certificate_hosts matches" in output   # the hosts are still selected


def test_a_later_step_brings_the_lookup_it_needs(tmp_path):
    output = list_tasks(tmp_path, "--tags", "deploy")
    assert re.search(r"certificate : .*TAGS: \[[^\]]*\blookup\b", output), output
    assert not re.search(r"certificate : .*TAGS: \[verify\]", output)


def test_every_filter_the_roles_name_exists():
    from ansible_collections.autotls.acme.plugins.filter.certificate_role import FilterModule
    named = set()
    for dirpath, _dirs, files in os.walk(os.path.join(ROOT, "roles")):
        for name in files:
            if name.endswith((".yml", ".j2")):
                with open(os.path.join(dirpath, name), encoding="utf-8") as handle:
                    named |= set(re.findall(r"\|\s*autotls\.acme\.(\w+)", handle.read()))
    assert len(named) > 10 and named <= set(FilterModule().filters()), sorted(named - set(FilterModule().filters()))
