"""community.crypto: its documented ACME flow as a playbook (bench/cc_acme.yml), issuing, and again over the
same files as the no-op check."""
from __future__ import annotations

import os
import shutil

from bench.common import BENCH, BUILD, names_for, write_json
from bench.contenders.base import Context, Contender, ansible_env, playbook_command
from bench.measure import Command
from bench.verify import check_recap, compare_snapshots, snapshot, verify_certificates


def cc_python() -> str:
    return os.path.join(BUILD, "venv-ansible", "bin", "python")


def cc_command(ctx: Context, job_dir: str, names: list, timeout: float) -> Command:
    varsfile = write_json(os.path.join(job_dir, "vars.json"), {
        "acme_directory": ctx.stack.directory, "webroot": ctx.stack.webroot, "cc_dir": os.path.join(job_dir, "cc"),
        "cc_names": names})
    # Only the community.crypto bundled with the `ansible` package (an empty collections path keeps
    # ~/.ansible/collections out); the CA through SSL_CERT_FILE, which Ansible's URL code honours.
    empty = os.path.join(BUILD, "no-collections")
    os.makedirs(empty, exist_ok=True)
    env = ansible_env(cc_python(), empty, SSL_CERT_FILE=ctx.stack.ca, REQUESTS_CA_BUNDLE=ctx.stack.ca)
    return playbook_command(os.path.join(BUILD, "venv-ansible", "bin", "ansible-playbook"),
                            os.path.join(BENCH, "cc_acme.yml"), varsfile, env, timeout)


def write_account_key(path: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


class CCIssue(Contender):
    key, label, venv = "cc", "community.crypto playbook", "ansible"
    cheap = False
    sizes_key = "cc-issue"

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        self.names = names_for(self.key, n)
        os.makedirs(os.path.join(self.dir, "cc"))
        write_account_key(os.path.join(self.dir, "cc", "account.key"))  # the account is created by the play
        return cc_command(ctx, self.dir, self.names, self.timeout(n))

    def verify(self, ctx, n, log_path):
        # The documented flow leaves its challenge files in the webroot; clear them for the next runs.
        challenges = os.path.join(ctx.stack.webroot, ".well-known", "acme-challenge")
        for entry in os.listdir(challenges):
            if os.path.isfile(os.path.join(challenges, entry)):
                os.unlink(os.path.join(challenges, entry))
        check_recap(log_path, noop=False)
        cc = os.path.join(self.dir, "cc")
        verify_certificates([{"name": name, "key": os.path.join(cc, name + ".key"),
                              "fullchain": os.path.join(cc, name + "-fullchain.crt"),
                              "cert": os.path.join(cc, name + ".crt")} for name in self.names],
                            ctx.stack.root, self.started)


def write_cc_csr(key_path: str, name: str, csr_path: str) -> None:
    """The CSR openssl_csr makes for common_name=name, subject_alt_name=[DNS:name] (it then finds it current)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    with open(key_path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
           .sign(key, hashes.SHA256()))
    with open(csr_path, "wb") as handle:
        handle.write(csr.public_bytes(serialization.Encoding.PEM))


class CCNoop(Contender):
    key, label, venv = "cc-noop", "community.crypto no-op", "ansible"
    cheap = False
    kind, sizes_key = "no-op", "cc-noop"

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        cc = os.path.join(self.dir, "cc")
        os.makedirs(cc)
        shutil.copy2(os.path.join(ctx.seed_dir, "account.key"), os.path.join(cc, "account.key"))
        names = ctx.seed_names[:n]
        for name in names:
            seed = os.path.join(ctx.seed_dir, name)
            shutil.copy2(os.path.join(seed, "privkey.pem"), os.path.join(cc, name + ".key"))
            os.chmod(os.path.join(cc, name + ".key"), 0o600)
            shutil.copy2(os.path.join(seed, "cert.pem"), os.path.join(cc, name + ".crt"))
            shutil.copy2(os.path.join(seed, "fullchain.pem"), os.path.join(cc, name + "-fullchain.crt"))
            write_cc_csr(os.path.join(cc, name + ".key"), name, os.path.join(cc, name + ".csr"))
        self.before = snapshot(cc)
        return cc_command(ctx, self.dir, names, self.timeout(n) + 3 * n)

    def verify(self, ctx, n, log_path):
        check_recap(log_path, noop=True)
        compare_snapshots(self.before, snapshot(os.path.join(self.dir, "cc")))
