# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private engine of autotls.acme: plain Python, no Ansible imports.

This package is NOT a public API; other collections must not import it.
Modules in plugins/modules/ are thin fronts over it; the tests drive it directly.
"""
