"""Print the README table of the certificate role's variables from meta/argument_specs.yml.

README.md holds this output between the role-variables markers; a unit test fails when they drift.
Usage: python3 scripts/role-vars-doc.py [--write]   (--write updates README.md in place)
"""
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "roles", "certificate", "meta", "argument_specs.yml")
README = os.path.join(ROOT, "README.md")
BEGIN, END = "<!-- role-variables:begin -->", "<!-- role-variables:end -->"


def _text(value):
    if isinstance(value, list):
        value = " ".join(value)
    value = re.sub(r"[OV]\(([^)]*)\)", r"`\1`", str(value)).replace("|", "\\|")
    return re.sub(r"[MBC]\(([^)]*)\)", r"\1", value).replace("\n", " ")


def _default(spec):
    if spec.get("required"):
        return "**required**"
    if "default" not in spec:
        return ""
    return "`%s`" % yaml.safe_dump(spec["default"], default_flow_style=True).strip().replace("\n...", "")


def _rows(options, prefix=""):
    for name, spec in options.items():
        kind = spec.get("type", "str")
        if spec.get("elements"):
            kind += " of " + spec["elements"]
        if spec.get("choices"):
            kind += " (" + ", ".join(str(c) for c in spec["choices"]) + ")"
        yield "| `%s%s` | %s | %s | %s |" % (prefix, name, kind, _default(spec), _text(spec.get("description", "")))
        if spec.get("options"):
            inner = prefix + name + ("[]." if spec.get("type") == "list" else ".")
            yield from _rows(spec["options"], inner)


def table():
    with open(SPECS) as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    lines = ["| variable | type | default | description |", "|---|---|---|---|"] + list(_rows(options))
    return "\n".join([BEGIN] + lines + [END])


def main():
    generated = table()
    if "--write" in sys.argv:
        with open(README) as handle:
            text = handle.read()
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _m: generated, text, flags=re.S)
        with open(README, "w") as handle:
            handle.write(text)
    else:
        print(generated)


if __name__ == "__main__":
    main()
