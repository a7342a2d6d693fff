#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: cert_deploy
short_description: Deploy many keys and certificates to a host in one task
version_added: 0.1.0
description:
  - Copies files from the control node to the host in one module call, however many there are (the
    C(ansible.builtin.copy) loop it replaces costs a module run per file).
  - Files of the same O(files[].group) (for example a certificate's key, certificate, chain and fullchain) are
    staged and then switched together, atomically each (temp file, fsync, rename); keys never become readable by
    others.
  - Reports which groups changed, so only the services using them are reloaded.
author:
  - autotls.acme maintainers (@autotls)
extends_documentation_fragment:
  - autotls.acme.attributes
attributes:
  check_mode:
    support: full
    details: Reports what would change and writes nothing.
  diff_mode:
    support: partial
    details: Lists the files that would change, never their content.
options:
  files:
    description:
      - The files to deploy (or, with O(compare_only), to compare).
      - One of O(files) and O(certificates) is required.
    type: list
    elements: dict
    suboptions:
      src:
        description: Path of the file on the control node (read by the action plugin).
        type: path
      srcs:
        description:
          - Paths of files on the control node whose contents, concatenated in this order, are the file's content
            (read by the action plugin), for example a private key and a full chain for HAProxy's combined PEM.
        type: list
        elements: path
      text:
        description:
          - The file's content as text (for example a challenge file's key authorization), instead of O(files[].src).
        type: str
      state:
        description: V(absent) removes the file (a missing file is fine).
        type: str
        choices: [present, absent]
        default: present
      content:
        description: Filled in by the action plugin from O(files[].src) or O(files[].text); base64. Never logged.
        type: str
      dest:
        description: Destination path on the host. Missing parent directories are created (0755).
        type: path
        required: true
      group:
        description: Files with the same group are switched together; also what RV(changed_groups) names.
        type: str
      mode:
        description: Mode of this file; defaults to O(key_mode) for files flagged O(files[].key), else O(mode).
        type: str
      key:
        description: The file is a private key.
        type: bool
        default: false
      sha256:
        description: With O(compare_only), the SHA-256 (hex) the file's content must have.
        type: str
      sha256_parts:
        description:
          - With O(compare_only), instead of O(files[].sha256) - the file must be the concatenation of parts with
            these SHA-256 digests, in this order (a combined PEM compared with the stored key and full chain).
        type: list
        elements: str
  certificates:
    description:
      - With O(compare_only), the files to compare given one entry per certificate instead of one per file in
        O(files) - a directory and the SHA-256 of each file in it - so that comparing a thousand certificates costs a
        thousand small entries, not four thousand.
      - Reports exactly what the same files given in O(files) would (RV(stale_groups), RV(missing_groups)); each
        certificate is one group, named by O(certificates[].name).
    type: list
    elements: dict
    suboptions:
      name:
        description: The certificate's name; the group reported in RV(stale_groups) and RV(missing_groups).
        type: str
        required: true
      dir:
        description: The directory holding the certificate's files, each under its name in O(certificates[].sha256).
        type: path
        required: true
      sha256:
        description:
          - File name (in O(certificates[].dir)) to the SHA-256 (hex) the file's content must have; an empty digest
            means nothing is known to match, so the certificate is stale.
        type: dict
        required: true
      paths:
        description:
          - File name (a key of O(certificates[].sha256)) to the absolute path the file is deployed at instead of
            O(certificates[].dir).
        type: dict
      key:
        description: Which file name of O(certificates[].sha256) is the private key (compared with O(key_mode)).
        type: str
        default: privkey.pem
      combined:
        description:
          - One more file, a private key, whose content is the concatenation of the files named in
            O(certificates[].combined_parts) (HAProxy's key and full chain in one PEM).
        type: path
      combined_parts:
        description: The file names (keys of O(certificates[].sha256)) that O(certificates[].combined) concatenates.
        type: list
        elements: str
        default: [privkey.pem, fullchain.pem]
  follow_symlinks:
    description:
      - Write through symlinked directories in O(files[].dest). By default a symlink that is not part of the
        system's layout (owned by root or by the user running the module, in a directory only its owner can write)
        is refused before anything is written, and so is a destination that is itself a symlink.
      - Directories created for private keys are V(0700) (V(0750) when O(group) is set); others V(0755).
    type: bool
    default: false
  compare_only:
    description:
      - Only compare the files on the host with O(files[].sha256) (and mode, owner, group) and report the groups
        that are missing or differ in RV(stale_groups); nothing is written and nothing is shipped.
      - Lets a playbook fetch and deploy only what a host lacks, so a run where nothing changed costs one
        comparison per host however many certificates there are.
    type: bool
    default: false
  owner:
    description: Owner of the files (name or uid).
    type: str
  group:
    description: Group of the files (name or gid).
    type: str
  mode:
    description: Mode of non-key files.
    type: str
    default: "0644"
  key_mode:
    description: Mode of private keys.
    type: str
    default: "0600"
seealso:
  - module: autotls.acme.cert_store
'''

EXAMPLES = r'''
---
- name: Deploy two certificates (8 files) in one task
  autotls.acme.cert_deploy:
    owner: root
    group: root
    files:
      - {group: www, key: true, src: /tmp/staging/www/privkey.pem, dest: /etc/ssl/www/privkey.pem}
      - {group: www, src: /tmp/staging/www/fullchain.pem, dest: /etc/ssl/www/fullchain.pem}
      - {group: api, key: true, src: /tmp/staging/api/privkey.pem, dest: /etc/ssl/api/privkey.pem}
      - {group: api, src: /tmp/staging/api/fullchain.pem, dest: /etc/ssl/api/fullchain.pem}
      # HAProxy: key and full chain in one file, with the key's mode
      - {group: api, key: true, srcs: [/tmp/staging/api/privkey.pem, /tmp/staging/api/fullchain.pem],
         dest: /etc/haproxy/certs/api.pem}
  notify: Reload nginx

- name: Which certificates does this host lack or hold stale copies of? (one entry per certificate)
  autotls.acme.cert_deploy:
    compare_only: true
    owner: root
    group: root
    certificates:
      - name: www
        dir: /etc/ssl/www
        sha256:
          privkey.pem: "{{ www_hashes['privkey.pem'] }}"
          fullchain.pem: "{{ www_hashes['fullchain.pem'] }}"
  register: compared   # compared.stale_groups, compared.missing_groups
'''

RETURN = r'''
changed_files:
  description: Destination paths that were (or in check mode would be) written or removed.
  returned: always
  type: list
  elements: str
changed_groups:
  description: Groups with at least one changed file.
  returned: always
  type: list
  elements: str
stale_groups:
  description: With O(compare_only), groups with at least one file that is missing or differs.
  returned: when O(compare_only=true)
  type: list
  elements: str
missing_groups:
  description:
    - With O(compare_only), groups none of whose files exists yet (nothing deployed there; a server configured
      to use these paths cannot load).
  returned: when O(compare_only=true)
  type: list
  elements: str
'''

import base64
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autotls.acme.plugins.module_utils import _adapter
from ansible_collections.autotls.acme.plugins.module_utils._argspec import deploy_argument_spec
from ansible_collections.autotls.acme.plugins.module_utils._engine import deployed, fsio
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError


def _work(module) -> dict:
    params = module.params
    owner = fsio.uid_of(params["owner"])
    group = fsio.gid_of(params["group"])
    deployed.check(params)
    if params["compare_only"]:
        return deployed.compare(params, owner, group)
    groups, removals = {}, []
    for index, item in enumerate(params["files"]):
        if item["state"] == "absent":
            removals.append(item["dest"])
            continue
        if item["content"] is None:
            raise InputError("files[%d].content" % index, "missing (use src; the action plugin reads it)")
        mode = fsio.mode_of(item["mode"] or (params["key_mode"] if item["key"] else params["mode"]),
                            "files[%d].mode" % index)
        spec = fsio.FileSpec(item["dest"], base64.b64decode(item["content"]), mode, owner=owner, group=group)
        groups.setdefault(item["group"] or item["dest"], []).append(spec)
    changed_files, changed_groups = [], []
    for name, specs in groups.items():
        if module.check_mode:
            changed = [spec.path for spec in specs if fsio.needs_write(spec)]
        else:
            changed = fsio.write_together(specs, follow_symlinks=params["follow_symlinks"])
        if changed:
            changed_files += changed
            changed_groups.append(name)
    for path in removals:
        if os.path.lexists(path):
            if not module.check_mode:
                os.unlink(path)
            changed_files.append(path)
    result = {"changed": bool(changed_files), "changed_files": changed_files, "changed_groups": changed_groups}
    if changed_files and module._diff:
        result["diff"] = {"before": "", "after": "".join("changed: %s\n" % path for path in changed_files)}
    return result


def main():
    module = AnsibleModule(argument_spec=deploy_argument_spec(), supports_check_mode=True)
    module.exit_json(**_adapter.run(module, lambda: _work(module)))


if __name__ == "__main__":
    main()
