"""Inventories, with Ansible's semantics (what users migrate from).

Sources (``Inventory.load([...])``, merged in the order given, like ``-i a -i b``):

* YAML (``.yml``/``.yaml``/``.json``): top-level keys are groups (usually ``all``); a group
  is a mapping of ``hosts`` (host -> vars mapping or null), ``children`` (group -> group)
  and ``vars``, nested arbitrarily. A string for ``hosts``/``children`` names one entry,
  as in Ansible. Host keys may carry ``:port`` and ranges: ``hv[01:03].lab``,
  ``db-[a:c]``, ``n[0:10:2]``.
* INI: ``[group]`` host lines with inline ``key=value`` vars, ``[group:vars]``,
  ``[group:children]``; values go through ``ast.literal_eval`` as in Ansible (``5`` is an
  int, ``True`` a bool, ``'5'`` a string, anything else stays the raw string). Files with
  another extension are INI; a file without extension is YAML if it looks like YAML.
* TOML (``.toml``): top-level tables are groups with ``hosts`` (a table), ``vars`` and
  ``children`` (a list of group names), as Ansible's toml plugin.
* an executable file: an inventory script, run with ``--list`` (JSON: groups with ``hosts``,
  ``vars``, ``children``, and ``_meta.hostvars``; without ``_meta``, ``--host NAME`` per host),
  as Ansible's script plugin (which is tried before the file formats).
* a directory (every file in it, sorted; ``group_vars``/``host_vars`` and hidden or backup
  files skipped), or a ``h1,h2,`` host list.

``group_vars/`` and ``host_vars/`` beside each source: the first of ``<name>`` (a file, or a
directory whose files are merged in lexical order, recursively), ``<name>.yml``,
``<name>.yaml``, ``<name>.json``, as Ansible looks them up.

Variable precedence, lowest first, exactly as Ansible's defaults (``hash_behaviour=replace``:
a later value replaces, never deep-merges):

1. ``all`` vars from inventory files;
2. other groups' vars from inventory files, sorted by depth (parents before children), then
   ``ansible_group_priority`` (inventory files only, default 1), then name;
3. ``group_vars/all`` (each source's directory in source order);
4. ``group_vars/<group>`` (for each source directory: groups in the order of 2.);
5. host vars from inventory files;
6. ``host_vars/<host>`` (each source's directory in source order).

So every ``group_vars`` file beats every inline group var, as in Ansible.

An unknown key in a group is skipped with a warning, as Ansible does. Stricter than Ansible
(it only warns or silently overrides): ``hosts``/``children``/``vars`` of the wrong type, and a
host (or group) given two different values for one variable in the same file are errors. All problems of a file are collected
and raised as one `InventoryError` (its ``problems`` list; a single problem is raised alone).
"""

from __future__ import annotations

from .common import expand_host_pattern
from .core import Inventory
from .model import Group, Host

__all__ = ["Group", "Host", "Inventory", "expand_host_pattern"]
