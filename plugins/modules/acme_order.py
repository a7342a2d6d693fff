#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: acme_order
short_description: Obtain or renew a certificate from an ACME CA over HTTP-01 or DNS-01
version_added: 0.1.0
description:
  - Decides whether the certificate at O(certificate_path) (or O(fullchain_path)) is due for renewal and, only
    when it is, orders a new one over HTTP-01 or, with O(challenge=dns-01), DNS-01.
  - "Due means: no certificate yet; less than one third of its lifetime left (one half for certificates that live
    under 10 days), or, when O(renew_before_days) is set, fewer days left than that (it replaces the lifetime
    window); it does not name exactly the requested O(identifiers) (compared as sets of canonical names); its key
    type differs from O(key_type); it came from another ACME directory than O(acme_directory); it was issued with
    another O(profile) than the one asked for; or O(force=true).
    The decision is the engine's one renewal decision, the same that M(autotls.acme.cert_store) reports."
  - "Identifiers are made canonical before anything else: lower case, no trailing dot, duplicates removed, IP
    addresses in canonical form, internationalized names converted to A-labels (punycode). Refused: values that
    look like IPv4 addresses but are not (V(999.1.1.1), V(127.000.000.001)), zone-scoped IPv6 (V(fe80::1%eth0)),
    wildcards, and more than O(max_identifiers) names."
  - "Single call: with O(webroot), the module writes the challenge files into that directory (run it on the host
    that serves the webroot) and removes them afterwards, also on failure."
  - "Two steps, for fleets: without O(webroot) and O(order_url), the module creates the order and returns
    RV(challenge_files) and RV(order_url); publish the files wherever the CA may connect (every node behind a load
    balancer), then call the module again with O(order_url) to validate, finalize and download."
  - "DNS-01 in a single call: with O(challenge=dns-01) and O(dns), the module checks the DNS settings before anything
    is ordered, adds the TXT records (one change per zone), waits until every authoritative server of each zone answers
    with them, validates, finalizes, downloads and removes the records again, also on failure. Without O(dns), the first
    call returns RV(challenge_records) for you to publish (two-step form)."
  - The private key, certificate, chain, fullchain and a metadata file (V(<certificate>.acme.json), recording the
    ACME directory) are written atomically and switched together; the key gets mode V(0600). A failed order
    leaves the existing files untouched.
  - The ACME account must exist (see M(autotls.acme.acme_account)).
author:
  - autotls.acme maintainers (@autotls)
extends_documentation_fragment:
  - autotls.acme.acme
  - autotls.acme.attributes
attributes:
  check_mode:
    support: full
    details: Reports whether the certificate is due and why; contacts no CA and writes nothing.
  diff_mode:
    support: partial
    details:
      - Shows the names, serial and expiry of the current certificate and those of the one that would replace it
        (names added or removed, serial old -> new); with O(certificates), one diff per due certificate.
options:
  identifiers:
    description:
      - DNS names and IP addresses the certificate must cover.
      - Wildcards (V(*.example.com)) need O(challenge=dns-01); HTTP-01 cannot validate them.
      - Required unless O(csr) or O(csr_content) is given (then the CSR's names are used).
    type: list
    elements: str
  webroot:
    description: Directory served at C(http://<identifier>/) on port 80; enables the single-call flow over HTTP-01.
    type: path
  challenge:
    description:
      - How the CA validates the names. V(dns-01) proves control of the names with TXT records and is the only way to
        obtain wildcard certificates.
    type: str
    choices: [http-01, dns-01]
    default: http-01
  dns:
    description:
      - The DNS provider that publishes the TXT records of O(challenge=dns-01), for the single-call flow.
      - Without it, O(challenge=dns-01) is the two-step flow and the first call returns RV(challenge_records).
      - Only the options of the chosen provider may be set; the others are errors naming them.
    type: dict
    suboptions: &dns_suboptions
      provider:
        description: V(rfc2136) (dynamic update with TSIG; BIND, Knot, PowerDNS, Windows DNS) or V(route53).
        type: str
        required: true
        choices: [rfc2136, route53]
      server:
        description: (rfc2136) Address of the name server that accepts updates, V(address) or V(address:port).
        type: str
      port:
        description: (rfc2136) Its port (default 53).
        type: int
      key_name:
        description: (rfc2136) Name of the TSIG key.
        type: str
      key_secret:
        description: (rfc2136) The TSIG secret, base64 as in the key's C(secret) line. Never logged.
        type: str
      key_algorithm:
        description: (rfc2136) TSIG algorithm (default V(hmac-sha256)).
        type: str
        choices: [hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1, hmac-md5]
      zone:
        description:
          - The zone that holds the records. When unset, found from the name (rfc2136 - an SOA walk through the
            resolvers; route53 - the longest hosted zone name that holds it). A zone that does not contain a name is
            an error.
        type: str
      hosted_zone_id:
        description: (route53) The hosted zone; when unset, found from the name with C(ListHostedZonesByName).
        type: str
      access_key:
        description: (route53) AWS access key id; when unset, the boto3 credential chain.
        type: str
      secret_key:
        description: (route53) AWS secret access key. Never logged.
        type: str
      session_token:
        description: (route53) AWS session token. Never logged.
        type: str
      region:
        description: (route53) Region of the API endpoint (default V(us-east-1)).
        type: str
      endpoint_url:
        description: (route53) Another Route 53 API endpoint.
        type: str
      resolvers:
        description:
          - Resolvers (V(address) or V(address:port)) that follow CNAMEs, find the zone and its name servers, for
            split-horizon DNS. Default - the system's.
        type: list
        elements: str
      nameserver_port:
        description: Port on which the zone's authoritative servers are asked (default 53).
        type: int
      propagation_timeout:
        description:
          - Seconds to wait until every authoritative server of the zone answers with the records (default 120). A
            timeout fails naming the server and the record.
        type: int
      check_propagation:
        description: Ask every authoritative server before the CA (default V(true)).
        type: bool
      ttl:
        description: TTL of the TXT records (default 60).
        type: int
      timeout:
        description: Seconds per DNS query or update (default 10).
        type: int
  order_url:
    description: The RV(order_url) returned by the first call of the two-step flow; enables the second step.
    type: str
  private_key_path:
    description: Where the certificate's private key is written (mode V(0600)). Required unless a CSR is given.
    type: path
  certificate_path:
    description: Where the certificate (leaf only) is written.
    type: path
  chain_path:
    description: Where the intermediate certificates are written.
    type: path
  fullchain_path:
    description: Where the certificate followed by its intermediates is written.
    type: path
  key_type:
    description: Type of a newly generated private key.
    type: str
    choices: [ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096]
    default: ecdsa-p256
  reuse_key:
    description: Keep the private key at O(private_key_path) across renewals instead of generating a new one.
    type: bool
    default: false
  csr:
    description: Path of your own CSR (PEM); the module then writes no private key.
    type: path
  csr_content:
    description: Your own CSR as PEM text.
    type: str
  existing_certificate_content:
    description: The current certificate as PEM text, when it is not at O(certificate_path).
    type: str
  renew_before_days:
    description:
      - Renew when fewer than this many days are left; replaces the lifetime-relative window. V(0) means unset.
      - A value at or above the certificate's lifetime would renew on every run; it is capped to the lifetime window
        and a warning says so.
    type: float
  max_identifiers:
    description: Most distinct names one certificate may have (Let's Encrypt allows 100); raise it for a CA that
      allows more.
    type: int
    default: 100
  follow_symlinks:
    description:
      - Write through symlinked directories in the paths of the outputs and in O(webroot) (its
        C(.well-known/acme-challenge)). By default a symlink that is not part of the system's layout (owned by root or
        by the user running the module, in a directory only its owner can write) is refused before anything is
        ordered, so that whoever can write a webroot cannot redirect the writes.
    type: bool
    default: false
  force:
    description: Order a new certificate even if the current one is not due.
    type: bool
    default: false
  preferred_chain:
    description:
      - Common name of the issuer to prefer when the CA offers alternate chains, matched against the top-most
        certificate of each chain first, then against any certificate in it. Falls back to the default chain.
    type: str
  profile:
    description:
      - ACME profile to order the certificate with (draft-ietf-acme-profiles), for example V(classic),
        V(tlsserver) or V(shortlived) at Let's Encrypt. Omitted, the CA picks its default profile.
      - Checked against the profiles the directory lists in C(meta.profiles) before anything is ordered; a profile
        the CA does not offer fails naming O(profile) and listing the offered ones (RV(profiles_offered)).
      - Sent as C(profile) in the new order and recorded in the metadata file (V(<certificate>.acme.json)); a
        certificate issued with another profile than the one asked for is due (reason V(profile_changed)).
      - V(shortlived) certificates live about 6 days and renew after half their lifetime; it is the profile Let's
        Encrypt requires for IP address identifiers.
    type: str
  replaces:
    description:
      - ARI identifier (RFC 9773) of the certificate the new one replaces, as
        M(autotls.acme.cert_store) reports it in C(certificates[].ari_id) and C(certificate.ari_id). When the CA's
        directory offers renewalInfo, it is sent as C(replaces) with the new order, so the CA knows it is a renewal
        (CAs may exempt such orders from rate limits and count on them during mass revocations).
      - Ignored when the directory offers no renewalInfo. If the CA refuses it - the certificate was already replaced
        (C(alreadyReplaced)), or it does not accept this identifier - the order is placed again without it instead
        of failing, and RV(replaces_dropped) says why.
      - Only used when a new order is created. An empty string means none. With O(certificates), give it per entry.
    type: str
  owner:
    description: Owner (name or uid) of the written files.
    type: str
  group:
    description: Group (name or gid) of the written files.
    type: str
  certificates:
    description:
      - Several certificate requests in one task, worked on concurrently (see O(concurrency)); each succeeds or
        fails on its own and gets its own entry in RV(certificates).
      - Each entry takes the per-certificate options below; options not given in an entry come from the
        top level (for example O(webroot), O(key_type), O(renew_before_days)).
      - Mutually exclusive with O(identifiers), O(csr), O(csr_content), O(order_url) and O(replaces) at the top
        level.
    type: list
    elements: dict
    suboptions:
      name:
        description: A label for the result; defaults to the first identifier.
        type: str
      identifiers:
        description: As O(identifiers).
        type: list
        elements: str
      order_url:
        description: As O(order_url), for the second step of this certificate.
        type: str
      private_key_path:
        description: As O(private_key_path).
        type: path
      certificate_path:
        description: As O(certificate_path).
        type: path
      chain_path:
        description: As O(chain_path).
        type: path
      fullchain_path:
        description: As O(fullchain_path).
        type: path
      key_type:
        description: As O(key_type).
        type: str
        choices: [ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096]
      reuse_key:
        description: As O(reuse_key).
        type: bool
      csr:
        description: As O(csr).
        type: path
      csr_content:
        description: As O(csr_content).
        type: str
      existing_certificate_content:
        description: As O(existing_certificate_content).
        type: str
      renew_before_days:
        description: As O(renew_before_days).
        type: float
      force:
        description: As O(force).
        type: bool
      preferred_chain:
        description: As O(preferred_chain).
        type: str
      replaces:
        description: As O(replaces), for this certificate (not taken from the top level).
        type: str
      profile:
        description: As O(profile).
        type: str
      challenge:
        description: As O(challenge). A V(dns-01) entry does not use the top-level O(webroot).
        type: str
        choices: [http-01, dns-01]
      dns:
        description: As O(dns) (the same suboptions), for this certificate.
        type: dict
        suboptions: *dns_suboptions
  order_urls:
    description:
      - Second step of the two-step flow for O(certificates) - the RV(order_urls) of the first step, mapping
        certificate names to order URLs. Entries without an order URL are skipped.
    type: dict
  concurrency:
    description: How many certificates of O(certificates) are worked on at the same time.
    type: int
    default: 4
  fail_on_error:
    description:
      - With O(certificates), fail the task when any certificate failed (after all were tried). With V(false),
        the task succeeds and reports failures in RV(certificates) and RV(failed_count).
    type: bool
    default: true
  pending_dir:
    description:
      - "Issued means kept: a private directory (created V(0700), files V(0600)) on the host that runs the module
        where the order URL and the key of its CSR are written before the order is finalized, and the certificate
        right after it is downloaded, before anything else can fail."
      - A later call with the same O(pending_dir) and certificate name (C(certificates[].name), or the first
        identifier) uses what it finds there instead of ordering again - it writes the kept certificate to the
        output paths (C(from_pending) in its result), or resumes the download from the kept order URL (in the
        two-step flow it returns that O(order_url) with no challenge files). A kept order the CA no longer knows
        (invalid, expired) is dropped, and the next call orders anew.
      - M(autotls.acme.cert_store) with the same O(pending_dir) removes an entry once storage holds its
        certificate. Unset, nothing is kept.
    type: path
seealso:
  - module: autotls.acme.acme_account
  - name: RFC 8555, section 8.3 (HTTP Challenge)
    description: How the CA validates a name over HTTP-01.
    link: https://www.rfc-editor.org/rfc/rfc8555#section-8.3
  - name: RFC 8555, section 8.4 (DNS Challenge)
    description: How the CA validates a name over DNS-01.
    link: https://www.rfc-editor.org/rfc/rfc8555#section-8.4
  - name: RFC 2136 (Dynamic Updates in the DNS)
    description: The update protocol of O(dns.provider=rfc2136).
    link: https://www.rfc-editor.org/rfc/rfc2136
'''

EXAMPLES = r'''
---
- name: Issue or renew in one call on the web server itself
  autotls.acme.acme_order:
    account_key_path: /etc/autotls/account.key
    identifiers: [www.example.com, example.com]
    webroot: /var/www/acme
    private_key_path: /etc/ssl/private/www.key
    certificate_path: /etc/ssl/certs/www.crt
    fullchain_path: /etc/ssl/certs/www-fullchain.crt
  notify: Reload nginx

- name: Start an order on the control node (two-step flow)
  autotls.acme.acme_order:
    account_key_path: /etc/autotls/account.key
    identifiers: [www.example.com]
    private_key_path: /srv/certs/www.key
    fullchain_path: /srv/certs/www-fullchain.crt
  delegate_to: localhost
  run_once: true
  register: www_order

- name: Publish the challenge files on every web server behind the load balancer
  ansible.builtin.copy:
    dest: "/var/www/acme/{{ item.path }}"
    content: "{{ item.content }}"
    mode: "0644"
  loop: "{{ www_order.challenge_files }}"
  when: www_order.order_url is defined

- name: Validate, finalize and download
  autotls.acme.acme_order:
    account_key_path: /etc/autotls/account.key
    identifiers: [www.example.com]
    order_url: "{{ www_order.order_url }}"
    private_key_path: /srv/certs/www.key
    fullchain_path: /srv/certs/www-fullchain.crt
  delegate_to: localhost
  run_once: true
  when: www_order.order_url is defined

- name: Many certificates in one task, four at a time
  autotls.acme.acme_order:
    account_key_path: /etc/autotls/account.key
    webroot: /var/www/acme
    concurrency: 4
    fail_on_error: false
    certificates:
      - name: www
        identifiers: [www.example.com]
        private_key_path: /etc/ssl/private/www.key
        fullchain_path: /etc/ssl/certs/www.pem
      - name: api
        identifiers: [api.example.com]
        private_key_path: /etc/ssl/private/api.key
        fullchain_path: /etc/ssl/certs/api.pem
  register: issued

- name: A 6-day certificate from Let's Encrypt's short-lived profile (required for IP addresses)
  autotls.acme.acme_order:
    account_key_path: /etc/autotls/account.key
    acme_directory: https://acme-v02.api.letsencrypt.org/directory
    identifiers: [203.0.113.10, www.example.com]
    profile: shortlived
    webroot: /var/www/acme
    private_key_path: /etc/ssl/private/www.key
    fullchain_path: /etc/ssl/certs/www-fullchain.crt

- name: A wildcard certificate over DNS-01, records added and removed through RFC 2136
  autotls.acme.acme_order:
    account_key_path: /etc/autotls/account.key
    identifiers: ["*.example.com", example.com]
    challenge: dns-01
    dns:
      provider: rfc2136
      server: 192.0.2.53
      key_name: acme-update.
      key_secret: "{{ vault_tsig_secret }}"
    private_key_path: /srv/certs/example/privkey.pem
    fullchain_path: /srv/certs/example/fullchain.pem
  delegate_to: localhost

- name: The same through Route 53 (hosted zone found from the name)
  autotls.acme.acme_order:
    account_key_path: /etc/autotls/account.key
    identifiers: ["*.example.com"]
    challenge: dns-01
    dns:
      provider: route53
      access_key: "{{ vault_dns_access_key }}"
      secret_key: "{{ vault_dns_secret_key }}"
    private_key_path: /srv/certs/wild/privkey.pem
    fullchain_path: /srv/certs/wild/fullchain.pem
  delegate_to: localhost

- name: DNS-01 in two steps, with your own DNS modules in between
  autotls.acme.acme_order:
    account_key_path: /etc/autotls/account.key
    identifiers: [mail.example.com]
    challenge: dns-01
    private_key_path: /srv/certs/mail/privkey.pem
    fullchain_path: /srv/certs/mail/fullchain.pem
  register: mail_order
  # publish each of mail_order.challenge_records (name, type, value), then call again with
  # order_url: "{{ mail_order.order_url }}" and challenge: dns-01


- name: Renew a stored certificate, telling the CA which one it replaces (ACME Renewal Information)
  autotls.acme.acme_order:
    account_key_path: /etc/autotls/account.key
    acme_directory: https://acme-v02.api.letsencrypt.org/directory
    identifiers: [www.example.com]
    webroot: /var/www/acme
    private_key_path: /etc/ssl/private/www.key
    fullchain_path: /etc/ssl/certs/www-fullchain.crt
    replaces: "{{ inventory.certificates[0].ari_id }}"
    force: true
'''

RETURN = r'''
renewed:
  description: Whether a new certificate was obtained and written by this task.
  returned: always
  type: bool
reason:
  description:
    - Why a certificate was (or would be) ordered, or V(not_due); one of V(not_due), V(missing), V(expired),
      V(lifetime_window), V(renew_before_days), V(ari_window), V(names_changed), V(key_type_changed),
      V(directory_changed), V(profile_changed), V(forced), V(backing_off) (more may be added). Branch on this
      value, not on RV(reason_detail).
  returned: always
  type: str
  sample: lifetime_window
reason_detail:
  description: The same decision in words, for people.
  returned: when a decision was made
  type: str
  sample: within renewal window (25.0 of 90.0 days left)
renewal:
  description: The renewal decision for the existing certificate.
  returned: when a certificate existed
  type: dict
  contains:
    due:
      description: Whether renewal is due.
      type: bool
    not_after:
      description: Expiry of the existing certificate (UTC, ISO 8601).
      type: str
    days_left:
      description: Days until the existing certificate expires.
      type: float
    renew_at:
      description: When the existing certificate becomes due (UTC, ISO 8601).
      type: str
    reason:
      description: As RV(reason).
      type: str
    reason_detail:
      description: As RV(reason_detail).
      type: str
    next_check:
      description: When the decision should be made again (UTC, ISO 8601).
      type: str
order_url:
  description: URL of the order; pass it to the second call of the two-step flow.
  returned: when an order was created or completed
  type: str
replaces:
  description: The ARI identifier sent as C(replaces) with the new order and accepted by the CA (see O(replaces)).
  returned: when an order was created with O(replaces) and the CA accepted it
  type: str
profile:
  description: The ACME profile the new certificate was ordered with.
  returned: when an order was created or completed with O(profile), or the CA named the order's profile
  type: str
  sample: shortlived
profiles_offered:
  description: The profiles the CA's directory offers, when O(profile) named another one (the task then fails).
  returned: when O(profile) is not offered
  type: list
  elements: str
  sample: [classic, shortlived, tlsserver]
replaces_dropped:
  description:
    - "Why O(replaces) was dropped - the CA's problem type and detail, for example
      V(alreadyReplaced: this certificate was already replaced) - and the order placed again without it."
  returned: when the CA refused O(replaces)
  type: str
challenge_files:
  description:
    - Files to publish before the second call (first step of the two-step flow).
    - With O(certificates), the files of every certificate, each with an extra C(certificate) naming it.
  returned: when an order was created without O(webroot)
  type: list
  elements: dict
  contains:
    identifier:
      description: The name being validated.
      type: str
    path:
      description: Path relative to the webroot, C(.well-known/acme-challenge/<token>).
      type: str
    content:
      description: The exact content the file must have (the key authorization).
      type: str
    token:
      description: The challenge token (base64url, checked before use).
      type: str
    challenge_url:
      description: The challenge's URL at the CA.
      type: str
challenge_records:
  description:
    - "DNS-01: the TXT records the CA looks up. Returned by the first call of the two-step flow (publish them before
      the second call) and, for information, by the single call (which removed them again)."
    - V(*.example.com) and V(example.com) share one name, with two values.
    - With O(certificates), the records of every certificate, each with an extra C(certificate) naming it.
  returned: when an order was created with O(challenge=dns-01)
  type: list
  elements: dict
  contains:
    identifier:
      description: The name being validated, as the certificate names it (V(*.example.com) for a wildcard).
      type: str
    name:
      description: The record's name, V(_acme-challenge.<name without *.>).
      type: str
      sample: _acme-challenge.example.com
    type:
      description: Always V(TXT).
      type: str
    value:
      description: The value the record must hold.
      type: str
    token:
      description: The challenge token.
      type: str
    challenge_url:
      description: The challenge's URL at the CA.
      type: str
dns_cleanup_errors:
  description:
    - Zones whose TXT records could not be removed after the order, with the reason. The certificate was still issued
      and written; remove the records by hand.
  returned: when a removal failed
  type: list
  elements: str
certificate:
  description: The certificate at the destination after the task.
  returned: when a certificate exists
  type: dict
  contains:
    serial:
      description: Serial number, hexadecimal.
      type: str
    not_before:
      description: Start of validity (UTC, ISO 8601).
      type: str
    not_after:
      description: End of validity (UTC, ISO 8601).
      type: str
    identifiers:
      description: Names and addresses the certificate covers.
      type: list
      elements: str
    subject:
      description: Subject (RFC 4514).
      type: str
    issuer:
      description: Issuer (RFC 4514).
      type: str
certificate_pem:
  description: The new certificate (leaf), PEM.
  returned: when renewed
  type: str
chain_pem:
  description: The intermediates, PEM.
  returned: when renewed
  type: str
fullchain_pem:
  description: Leaf followed by intermediates, PEM.
  returned: when renewed (single-certificate form)
  type: str
certificates:
  description:
    - One result per entry of O(certificates), in the same order, each with the fields above (without the PEM
      contents) plus C(name), C(failed) and, for a failed entry, C(msg) and the error's structured details.
  returned: with O(certificates)
  type: list
  elements: dict
order_urls:
  description: Names of O(certificates) mapped to the orders this task created; pass it back as O(order_urls).
  returned: with O(certificates)
  type: dict
from_pending:
  description: The certificate was issued by an earlier call and taken from O(pending_dir); nothing was ordered.
  returned: when the certificate came from O(pending_dir)
  type: bool
resumed:
  description: RV(order_url) is an order an earlier call finalized; complete it (second step) without publishing.
  returned: when an order kept in O(pending_dir) is resumed in the two-step flow
  type: bool
failed_count:
  description: How many entries of O(certificates) failed.
  returned: with O(certificates)
  type: int
renewed_count:
  description: How many entries of O(certificates) got a new certificate.
  returned: with O(certificates)
  type: int
'''

import os
import threading

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autotls.acme.plugins.module_utils import _adapter
from ansible_collections.autotls.acme.plugins.module_utils._argspec import (
    ACME_MUTUALLY_EXCLUSIVE, ACME_REQUIRED_ONE_OF, acme_argument_spec)
from ansible_collections.autotls.acme.plugins.module_utils._engine import (
    account, ari, batch, challenge, deps, fsio, issuance, keys, order, pending)
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01 import providers as dns_providers
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.solver import DNSSolver
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.bundles import validate_name
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError


def _request(params) -> issuance.CertificateRequest:
    csr_pem = None
    if params["csr"]:
        try:
            with open(params["csr"], "rb") as handle:
                csr_pem = handle.read()
        except OSError as exc:
            raise InputError("csr", "cannot read %s: %s" % (params["csr"], exc.strerror)) from None
    elif params["csr_content"]:
        csr_pem = params["csr_content"].encode()
    dns01_used = params["challenge"] == "dns-01"
    if csr_pem is not None:
        identifiers = keys.csr_identifiers(csr_pem, "csr" if params["csr"] else "csr_content",
                                           allow_wildcard=dns01_used, max_identifiers=params["max_identifiers"])
        if params["identifiers"] and set(keys.parse_identifiers(
                params["identifiers"], allow_wildcard=dns01_used, max_identifiers=params["max_identifiers"])) \
                != set(identifiers):
            raise InputError("identifiers", "differ from the names in the CSR")
    else:
        identifiers = keys.parse_identifiers(params["identifiers"], allow_wildcard=dns01_used,
                                             max_identifiers=params["max_identifiers"])
    if dns01_used and params.get("webroot"):
        raise InputError("webroot", "is for challenge http-01; challenge dns-01 publishes TXT records (see dns)")
    if params.get("dns") and not dns01_used:
        raise InputError("dns", "is only used with challenge: dns-01")
    if params.get("dns"):
        dns_providers.settings(params["dns"])
    request = issuance.CertificateRequest(
        identifiers=identifiers, private_key_path=params["private_key_path"],
        certificate_path=params["certificate_path"], chain_path=params["chain_path"],
        fullchain_path=params["fullchain_path"], key_type=params["key_type"], reuse_key=params["reuse_key"],
        csr_pem=csr_pem, renew_before_days=params["renew_before_days"], force=params["force"],
        preferred_chain=params["preferred_chain"], profile=params["profile"] or None,
        existing_certificate_pem=params["existing_certificate_content"].encode()
        if params["existing_certificate_content"] else None,
        owner=fsio.uid_of(params["owner"]),
        group=fsio.gid_of(params["group"]),
        challenge=params["challenge"],
        follow_symlinks=params["follow_symlinks"],
    )
    request.check()
    return request


def _account_client(module):
    params = module.params
    key, _generated = account.load_account_key(params["account_key_path"], params["account_key_content"], create=False)
    client = _adapter.client_from_params(module, key)
    if account.find(client) is None:
        raise InputError("account_key_path" if params["account_key_path"] else "account_key_content",
                         "no ACME account exists for this key at %s; create it with autotls.acme.acme_account"
                         % params["acme_directory"])
    return client


def _pending_area(module):
    """The pending area of pending_dir (None without it; in check mode only when it exists)."""
    params = module.params
    if not params["pending_dir"] or (module.check_mode and not os.path.isdir(params["pending_dir"])):
        return None
    return pending.PendingArea(params["pending_dir"], params["acme_directory"])


def _from_the_pending_area(module, get_client, request, params, keep):
    """What an earlier run left in the pending area for this certificate: a result, or None when nothing."""
    record = keep.order(request.name)
    if not record:
        return None
    if record.get("issued"):
        if module.check_mode:
            return {"changed": True, "renewed": False, "order_url": record.get("order_url"),
                    "reason": "would store the certificate an earlier run kept in the pending area"}
        result = issuance.from_pending(request, keep, params["acme_directory"])
        if result is not None:
            return result
        keep.remove(request.name)   # not for these identifiers (or damaged): order anew
        return None
    if module.check_mode:
        return {"changed": True, "renewed": False, "order_url": record.get("order_url"),
                "reason": "would resume the order an earlier run finalized"}
    reason = "resumed the order an earlier run finalized but did not download"
    if params["webroot"] or params.get("dns"):   # single call: complete it now (nothing to publish)
        return issuance.finish(get_client(), request, record["order_url"], reason=reason, keep=keep)
    # two-step flow: the caller completes it with order_url; there is nothing to publish
    return {"changed": True, "renewed": False, "reason": reason, "order_url": record["order_url"],
            "challenge_files": [], "order_status": "resumed", "resumed": True}


def _one(module, get_client, params, keep=None) -> dict:
    """One certificate: decide, then order / finish / issue as the parameters ask."""
    request = _request(params)
    if keep is not None:
        request.name = params.get("name") or request.identifiers[0].value
        validate_name(request.name, "name")
    if params["webroot"] is not None:   # cheap, and before anything is ordered
        challenge.check_webroot(params["webroot"], follow_symlinks=params["follow_symlinks"])
    if params["order_url"]:  # second step: the caller says the files are published
        if module.check_mode:
            return {"changed": True, "renewed": False, "reason": "would validate and finalize the order",
                    "order_url": params["order_url"]}
        return issuance.finish(get_client(), request, params["order_url"], reason="order completed", keep=keep)
    if keep is not None:
        kept = _from_the_pending_area(module, get_client, request, params, keep)
        if kept is not None:
            return kept
    replaces = ari.check_certificate_id(params["replaces"])
    decision = issuance.plan(request, params["acme_directory"])
    result = issuance.not_due_result(decision, request)
    if not decision.due:
        return result
    result.update(changed=True, reason=decision.reason.value, reason_detail=decision.detail)
    if module._diff:  # names added or removed, serial and expiry old -> new
        current = result.get("certificate") or {}
        result["diff"] = {
            "before": {key: current[key] for key in ("identifiers", "serial", "not_after") if key in current},
            "after": {"identifiers": sorted(i.value for i in request.identifiers),
                      "serial": "(new, from the order)", "not_after": "(new, from the order)"}}
    if module.check_mode:
        return result
    if params["webroot"]:
        result.update(issuance.issue_with_webroot(get_client(), request, params["webroot"], decision.reason.value,
                                                  replaces, keep=keep, follow_symlinks=params["follow_symlinks"]))
        return result
    if params["dns"]:
        solver = DNSSolver(params["dns"])
        try:
            solver.prepare(request.identifiers)   # zones, credentials, reachability: before anything is ordered
            result.update(issuance.issue_with_dns(get_client(), request, solver, decision.reason.value, replaces,
                                                  keep=keep))
        finally:
            solver.close()
        return result
    created = order.create(get_client(), request.identifiers, replaces=replaces, profile=request.profile,
                           challenge_type=request.challenge)
    result.update(created.to_result())
    result.update(renewed=False, order_status=created.status)
    return result


def _batch(module) -> dict:
    """The certificates form: every request on its own, a bounded pool working on them."""
    params = module.params
    if params["concurrency"] < 1:
        raise InputError("concurrency", "must be at least 1")
    lock = threading.Lock()
    shared = {}

    def client_for_this_thread():
        with lock:
            if "client" not in shared:
                shared["client"] = _account_client(module)
        return shared["client"].clone()

    items = []
    order_urls = params["order_urls"] or {}
    for index, item in enumerate(params["certificates"]):
        merged = dict(params)
        merged.update({key: value for key, value in item.items() if value is not None})
        merged["name"] = item.get("name") or (item.get("identifiers") or ["certificate %d" % index])[0]
        merged["replaces"] = item.get("replaces")   # names one certificate: never inherited
        if merged["challenge"] == "dns-01":
            merged["webroot"] = None                  # a top-level webroot serves the http-01 entries only
        else:
            merged["dns"] = None
        if params["order_urls"] is not None:
            merged["order_url"] = order_urls.get(merged["name"])
        items.append(merged)

    def work(get_client, item):
        if params["order_urls"] is not None and not item["order_url"]:
            return {"changed": False, "renewed": False, "skipped": True, "reason": "no order to complete"}
        return _one(module, get_client, item, keep)

    keep = _pending_area(module)
    results = batch.run(items, work, client_for_this_thread, params["concurrency"])
    challenge_files, challenge_records = [], []
    for item, result in zip(items, results):
        result["name"] = item["name"]
        for pem in ("certificate_pem", "chain_pem", "fullchain_pem"):
            result.pop(pem, None)  # on disk already; keeps the result small for hundreds of certificates
        for entry in result.get("challenge_files", []):
            challenge_files.append(dict(entry, certificate=item["name"]))
        for entry in result.get("challenge_records", []):
            challenge_records.append(dict(entry, certificate=item["name"]))
    failed = [r for r in results if r.get("failed")]
    diffs = [dict(r.pop("diff"), before_header=r["name"], after_header=r["name"]) for r in results if "diff" in r]
    out = {"changed": any(r.get("changed") for r in results), "certificates": results,
           "challenge_files": challenge_files, "challenge_records": challenge_records, "failed_count": len(failed),
           "order_urls": {r["name"]: r["order_url"] for r in results if r.get("order_url") and not r.get("renewed")},
           "renewed_count": len([r for r in results if r.get("renewed")])}
    if diffs:
        out["diff"] = diffs
    if failed and params["fail_on_error"]:
        module.fail_json(msg="%d of %d certificates failed: %s" % (len(failed), len(results), "; ".join(
            "%s: %s" % (r["name"], r["msg"]) for r in failed)), **out)
    return out


def _work(module) -> dict:
    if module.params["certificates"] is not None:
        return _batch(module)
    return _one(module, lambda: _account_client(module), module.params, _pending_area(module))


PER_CERTIFICATE_OPTIONS = ("identifiers", "order_url", "private_key_path", "certificate_path", "chain_path",
                           "fullchain_path", "key_type", "reuse_key", "csr", "csr_content",
                           "existing_certificate_content", "renew_before_days", "force", "preferred_chain", "replaces",
                           "profile", "challenge", "dns")


def dns_argument_spec() -> dict:
    return dict(
        provider=dict(type="str", required=True, choices=sorted(dns_providers.PROVIDERS)),
        server=dict(type="str"),
        port=dict(type="int"),
        key_name=dict(type="str", no_log=False),
        key_secret=dict(type="str", no_log=True),
        key_algorithm=dict(type="str", choices=["hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224",
                                                "hmac-sha1", "hmac-md5"]),
        zone=dict(type="str"),
        hosted_zone_id=dict(type="str"),
        access_key=dict(type="str", no_log=False),
        secret_key=dict(type="str", no_log=True),
        session_token=dict(type="str", no_log=True),
        region=dict(type="str"),
        endpoint_url=dict(type="str"),
        resolvers=dict(type="list", elements="str"),
        nameserver_port=dict(type="int"),
        propagation_timeout=dict(type="int"),
        check_propagation=dict(type="bool"),
        ttl=dict(type="int"),
        timeout=dict(type="int"),
    )


def _dns_libraries(params) -> list:
    """The libraries the DNS providers named anywhere in the task need."""
    sections = [params["dns"]] + [entry.get("dns") for entry in params["certificates"] or []]
    providers = {section["provider"] for section in sections if section}
    groups = [deps.DNS] if providers else []
    if "route53" in providers:
        groups.append(deps.S3)
    return groups


def main():
    argument_spec = acme_argument_spec()
    argument_spec.update(
        identifiers=dict(type="list", elements="str"),
        webroot=dict(type="path"),
        order_url=dict(type="str"),
        private_key_path=dict(type="path"),
        certificate_path=dict(type="path"),
        chain_path=dict(type="path"),
        fullchain_path=dict(type="path"),
        key_type=dict(type="str", default="ecdsa-p256", choices=list(keys.KEY_TYPES)),
        reuse_key=dict(type="bool", default=False),
        csr=dict(type="path"),
        csr_content=dict(type="str"),
        existing_certificate_content=dict(type="str"),
        renew_before_days=dict(type="float"),
        max_identifiers=dict(type="int", default=keys.MAX_IDENTIFIERS),
        follow_symlinks=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        preferred_chain=dict(type="str"),
        replaces=dict(type="str"),
        profile=dict(type="str"),
        challenge=dict(type="str", default="http-01", choices=["http-01", "dns-01"]),
        dns=dict(type="dict", options=dns_argument_spec()),
        owner=dict(type="str"),
        group=dict(type="str"),
        order_urls=dict(type="dict"),
        concurrency=dict(type="int", default=4),
        fail_on_error=dict(type="bool", default=True),
        pending_dir=dict(type="path"),
    )
    # an entry of certificates takes the per-certificate options, without defaults: unset ones come from the top
    entry = {name: {key: value for key, value in argument_spec[name].items() if key != "default"}
             for name in PER_CERTIFICATE_OPTIONS}
    argument_spec["certificates"] = dict(type="list", elements="dict", options=dict(entry, name=dict(type="str")))
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=ACME_MUTUALLY_EXCLUSIVE + [
            ("webroot", "order_url"), ("csr", "csr_content"), ("certificates", "identifiers"),
            ("certificates", "csr"), ("certificates", "csr_content"), ("certificates", "order_url"),
            ("certificates", "replaces"), ("identifiers", "order_urls")],
        required_one_of=ACME_REQUIRED_ONE_OF + [("identifiers", "csr", "csr_content", "certificates")],
        supports_check_mode=True,
    )
    _adapter.require_libraries(module, deps.ACME, *_dns_libraries(module.params))
    module.exit_json(**_adapter.run(module, lambda: _work(module)))


if __name__ == "__main__":
    main()
