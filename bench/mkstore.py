"""Issue the seed store for the no-op runs: N real certificates from the running CA, fast.

"Stored certificates for the large N may be prepared by the fastest correct
means": this calls the collection's engine directly (what acme_order runs, minus
Ansible), several orders at a time, and writes for each name

    <out>/<name>/privkey.pem  cert.pem  chain.pem  fullchain.pem  cert.pem.acme.json

exactly as acme_order would (the metadata file included). bench/run.py then
copies the first N of them into each contender's own layout (acme_order paths,
certbot lineages, community.crypto files). Nothing here is measured.

Needs PYTHONPATH=<repo>/build/collections (the harness sets it).
"""
from __future__ import annotations

import argparse
import os
import sys

from ansible_collections.autotls.acme.plugins.module_utils._engine import account, batch, issuance, keys
from ansible_collections.autotls.acme.plugins.module_utils._engine.client import AcmeClient


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--directory", required=True)
    parser.add_argument("--ca-bundle", required=True)
    parser.add_argument("--webroot", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--names-file", required=True)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)

    with open(args.names_file) as handle:
        names = [line.strip() for line in handle if line.strip()]
    os.makedirs(args.out, exist_ok=True)
    key = account.load_account_key(os.path.join(args.out, "account.key"), create=True)[0]
    client = AcmeClient(args.directory, key, ca_bundle=args.ca_bundle, request_timeout=10, retry_timeout=20)
    account.ensure_present(client, ["mailto:bench@example.com"], terms_agreed=True)

    def work(get_client, name):
        target = os.path.join(args.out, name)
        request = issuance.CertificateRequest(
            identifiers=keys.parse_identifiers([name]), private_key_path=os.path.join(target, "privkey.pem"),
            certificate_path=os.path.join(target, "cert.pem"), chain_path=os.path.join(target, "chain.pem"),
            fullchain_path=os.path.join(target, "fullchain.pem"))
        request.check()
        decision = issuance.plan(request, args.directory)
        if not decision.due:
            return {"changed": False}
        return issuance.issue_with_webroot(get_client(), request, args.webroot, decision.reason)

    results = batch.run(names, work, client.clone, args.concurrency)
    failed = [(name, r["msg"]) for name, r in zip(names, results) if r.get("failed")]
    for name, msg in failed[:10]:
        print("mkstore: %s: %s" % (name, msg), file=sys.stderr)
    if failed:
        print("mkstore: %d of %d failed" % (len(failed), len(names)), file=sys.stderr)
        return 1
    print("mkstore: %d certificates in %s (%d new)" % (len(names), args.out,
                                                       len([r for r in results if r.get("changed")])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
