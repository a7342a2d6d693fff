"""Offline stand-in for the get-pip.py bootstrap script that ansible-test downloads.

`ansible-test ... --venv` bootstraps pip into each fresh virtual environment by
running get-pip-<version>.py fetched from a host our CI cannot reach; it first
looks for a cached copy at ~/.ansible/test/cache/get_pip_<version>.py.
scripts/sanity.sh copies this file there.

It is run by the venv's interpreter with get-pip's arguments, e.g.
    --disable-pip-version-check pip==24.2 --no-setuptools --no-wheel
We bootstrap pip from the interpreter's bundled wheel (ensurepip, no network),
then let that pip install the requested packages from the package index.
get-pip's own --no-setuptools/--no-wheel options mean nothing to `pip install`.
"""
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    subprocess.run([sys.executable, "-m", "ensurepip"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", *args], check=True)


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as ex:
        sys.exit(ex.returncode)
