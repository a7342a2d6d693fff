"""The collection tarball ships what users run, and nothing of the developers' tooling."""
import os
import subprocess
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Top-level entries a user's installation needs (meta/execution-environment.yml names the two text files).
SHIPPED = {"MANIFEST.json", "FILES.json", "README.md", "galaxy.yml", "plugins", "roles", "playbooks", "meta", "docs",
           "changelogs", "requirements.txt", "bindep.txt"}
REQUIRED = SHIPPED - {"galaxy.yml"}   # ansible-galaxy may or may not copy galaxy.yml itself


def test_tarball_holds_only_what_users_run(tmp_path):
    proc = subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), ROOT],
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (tarball,) = [p for p in os.listdir(tmp_path) if p.endswith(".tar.gz")]
    with tarfile.open(tmp_path / tarball) as archive:
        members = [m.name for m in archive.getmembers()]
    top = {name.split("/", 1)[0] for name in members}
    assert top <= SHIPPED, "unexpected in the tarball: %s" % sorted(top - SHIPPED)
    assert top >= REQUIRED, "missing from the tarball: %s" % sorted(REQUIRED - top)
    assert not [m for m in members if "__pycache__" in m or m.endswith((".pyc", ".retry"))]
    assert "plugins/modules/cert_store_info.py" in members and "roles/certificate/tasks/main.yml" in members
    assert "playbooks/site.yml" in members and "playbooks/renew.yml" in members
