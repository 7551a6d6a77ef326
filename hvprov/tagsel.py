"""Ansible's tag selection (``--tags`` / ``--skip-tags``), shared by the runner and the listings."""

from __future__ import annotations

from collections.abc import Iterable


def tags_selected(tags: set[str], want: Iterable[str], skip: Iterable[str]) -> bool:
    """Whether a task with these tags runs under ``--tags want --skip-tags skip`` (special tags
    always, never, tagged, untagged and all as ansible-core's Taggable.evaluate_tags)."""
    want, skip = set(want), set(skip)
    if skip & tags or ("tagged" in skip and tags) or ("untagged" in skip and not tags):
        return False
    if "never" in tags and not (want & tags):
        return False
    if not want or "all" in want or "always" in tags:
        return True
    return bool(want & tags) or ("tagged" in want and bool(tags)) or ("untagged" in want and not tags)
