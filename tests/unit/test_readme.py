"""README.md documents every role variable exactly as meta/argument_specs.yml defines it."""
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_role_variables_table_matches_argument_specs():
    spec = importlib.util.spec_from_file_location("role_vars_doc", os.path.join(ROOT, "scripts", "role-vars-doc.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open(os.path.join(ROOT, "README.md")) as handle:
        readme = handle.read()
    assert module.table() in readme, "README role variables are stale: run python3 scripts/role-vars-doc.py --write"
