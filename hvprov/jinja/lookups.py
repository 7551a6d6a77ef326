"""lookup() / query() and ansible.builtin's lookup plugins, as ansible-core 2.19 runs them.

Files are searched as Ansible's `find_file_in_search_path`: `ansible_search_path` when set, else
the role's path then the playbook's directory; in each, `<subdir>/<name>` then `<name>`.
"""

from __future__ import annotations

import glob
import os
import random
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jinja2
from jinja2 import pass_context

from . import filters


class LookupError_(ValueError):
    pass


def _search_paths(variables: Mapping[str, Any]) -> list[str]:
    paths = variables.get("ansible_search_path")
    if isinstance(paths, (list, tuple)) and paths:
        return [str(p) for p in paths]
    out = [str(variables[k]) for k in ("role_path", "playbook_dir") if variables.get(k)]
    return out or [os.getcwd()]


def find_file(variables: Mapping[str, Any], subdir: str | None, name: str) -> str | None:
    if os.path.isabs(name):
        return name if os.path.exists(name) else None
    for base in _search_paths(variables):
        cands = (os.path.join(base, subdir, name), os.path.join(base, name)) if subdir else (os.path.join(base, name),)
        for cand in cands:
            if os.path.exists(cand):
                return os.path.abspath(cand)
    return None


def _read(variables: Mapping[str, Any], subdir: str, term: str) -> str:
    path = find_file(variables, subdir, term)
    if path is None or not os.path.isfile(path):
        raise LookupError_(f"could not locate file in lookup: {term}")
    with open(path, "rb") as fh:
        return fh.read().decode("utf-8", "surrogateescape")


def lk_file(ctx: Any, terms: list[Any], variables: Mapping[str, Any], rstrip: bool = True, lstrip: bool = False) -> list[Any]:
    out = []
    for term in terms:
        text = _read(variables, "files", str(term))
        if lstrip:
            text = text.lstrip()
        if rstrip:
            text = text.rstrip()
        out.append(text)
    return out


def lk_template(ctx: Any, terms: list[Any], variables: Mapping[str, Any], template_vars: Any = None,
                convert_data: bool = True, **_: Any) -> list[Any]:
    env = ctx.environment
    out = []
    for term in terms:
        source = _read(variables, "templates", str(term))
        tmpl = env.from_string(source)
        scope = {**variables, **(template_vars or {})}
        text = "".join(str(x) for x in tmpl.root_render_func(tmpl.new_context(scope)))
        out.append(text + "\n" if source.endswith("\n") else text)  # Ansible keeps the trailing newline
    return out


def lk_env(ctx: Any, terms: list[Any], variables: Mapping[str, Any], default: Any = "") -> list[Any]:
    return [os.environ.get(str(t), default) for t in terms]


def lk_vars(ctx: Any, terms: list[Any], variables: Mapping[str, Any], default: Any = jinja2.Undefined) -> list[Any]:
    out = []
    for term in terms:
        if not isinstance(term, str):
            raise LookupError_(f"Invalid setting identifier, \"{term}\" is not a string, it is a {type(term)}")
        if term in variables:
            value = variables[term]
        elif term in (variables.get("hostvars", {}).get(variables.get("inventory_hostname"), {}) or {}):
            value = variables["hostvars"][variables["inventory_hostname"]][term]
        elif default is not jinja2.Undefined:
            value = default
        else:
            raise LookupError_(f"No variable named {term!r} was found.")
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            value = ctx.environment.from_string(value).render(variables)
        out.append(value)
    return out


def _split_on(value: Any, seps: str) -> list[str]:
    if isinstance(value, str):
        return re.split("[" + re.escape(seps) + "]", value)
    return [p for v in value for p in _split_on(v, seps)]


def _ff_terms(terms: Any, opts: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for term in terms:
        if isinstance(term, Mapping):
            local = {**opts, **term}
            files, descr = local.get("files") or [], "files"
        elif isinstance(term, str):
            local, files, descr = opts, [term], "files"
        elif isinstance(term, Sequence):
            out.extend(_ff_terms(term, opts))
            continue
        else:
            raise LookupError_(f"Invalid term supplied. A string, dict or list is required, not {type(term).__name__!r}).")
        del descr
        filelist = _split_on(files, ",;")
        pathlist = _split_on(local.get("paths") or [], ",:;")
        out.extend(os.path.join(p, f) for p in pathlist for f in filelist) if pathlist else out.extend(filelist)
    return out


def lk_first_found(ctx: Any, terms: list[Any], variables: Mapping[str, Any], files: Any = None,
                   paths: Any = None, skip: bool = False) -> list[Any]:
    """As a lookup (not with_first_found) the names are searched without a files/ subdirectory."""
    opts = {"files": files or [], "paths": paths or [], "skip": skip}
    for name in _ff_terms(terms or opts["files"], opts):
        found = find_file(variables, None, name)
        if found is not None:
            return [os.path.normpath(found)]
    if skip:
        return []
    raise LookupError_("No file was found when using first_found.")


def lk_fileglob(ctx: Any, terms: list[Any], variables: Mapping[str, Any]) -> list[Any]:
    out: list[str] = []
    for term in terms:
        term = str(term)
        dirname, base = os.path.split(term)
        if dirname:
            found = find_file(variables, "files", dirname)
            dirs = [found] if found else []
        else:
            dirs = [os.path.join(p, "files") for p in _search_paths(variables)] + _search_paths(variables)
        for d in dirs:
            matches = [g for g in glob.glob(os.path.join(d, base)) if os.path.isfile(g)]  # glob order, as Ansible
            if matches:
                out.extend(matches)
                break
    return out


def lk_lines(ctx: Any, terms: list[Any], variables: Mapping[str, Any]) -> list[Any]:
    out: list[str] = []
    for term in terms:
        proc = subprocess.run(str(term), shell=True, capture_output=True, timeout=300, check=False)
        if proc.returncode != 0:
            raise LookupError_(f"lookup_plugin.lines({term}) returned {proc.returncode}")
        out.extend(proc.stdout.decode("utf-8", "surrogateescape").splitlines())
    return out


def lk_items(ctx: Any, terms: list[Any], variables: Mapping[str, Any]) -> list[Any]:
    return filters.flatten(terms, levels=1)


def lk_list(ctx: Any, terms: list[Any], variables: Mapping[str, Any]) -> list[Any]:
    return list(terms)


def lk_indexed_items(ctx: Any, terms: list[Any], variables: Mapping[str, Any]) -> list[Any]:
    if not isinstance(terms, list):
        raise LookupError_("with_indexed_items expects a list")
    return list(enumerate(filters.flatten(terms, levels=1)))


def lk_dict(ctx: Any, terms: list[Any], variables: Mapping[str, Any]) -> list[Any]:
    if isinstance(terms, Mapping):
        terms = [terms]
    out = []
    for term in terms:
        if not isinstance(term, Mapping):
            raise LookupError_(f"with_dict expects a dict, got {type(term).__name__}")
        out.extend(filters.dict2items(term))
    return out


def lk_together(ctx: Any, terms: list[Any], variables: Mapping[str, Any]) -> list[Any]:
    import itertools

    if not terms:
        raise LookupError_("with_together requires at least one element in each list")
    return [filters.flatten(x, levels=1, skip_nulls=False) for x in itertools.zip_longest(*terms, fillvalue=None)]


def lk_nested(ctx: Any, terms: list[Any], variables: Mapping[str, Any]) -> list[Any]:
    import itertools

    if not terms:
        raise LookupError_("with_nested requires at least one element in the nested list")
    return [list(x) for x in itertools.product(*terms)]


def lk_sequence(ctx: Any, terms: list[Any], variables: Mapping[str, Any], **kwargs: Any) -> list[Any]:
    from . import sequence

    return sequence.run(terms, kwargs)


def lk_subelements(ctx: Any, terms: list[Any], variables: Mapping[str, Any]) -> list[Any]:
    if not isinstance(terms, list) or not 2 <= len(terms) <= 3:
        raise LookupError_("subelements lookup expects a list of two or three items")
    flags = terms[2] if len(terms) == 3 else {}
    if not isinstance(flags, Mapping) or set(flags) - {"skip_missing"}:
        raise LookupError_("the optional third item must be a dict with flags skip_missing")
    pairs = filters.subelements(terms[0], terms[1], skip_missing=bool(flags.get("skip_missing")))
    path = str(terms[1]).split(".") if isinstance(terms[1], str) else []
    return [[_without(a, path), b] for a, b in pairs]  # the lookup pops the subelement from item.0


def _without(obj: Any, path: list[str]) -> Any:
    if not path or not isinstance(obj, Mapping):
        return obj
    if len(path) == 1:
        return {k: v for k, v in obj.items() if k != path[0]}
    return {**obj, path[0]: _without(obj.get(path[0]), path[1:])}


def lk_password(ctx: Any, terms: list[Any], variables: Mapping[str, Any], **kwargs: Any) -> list[Any]:
    from . import password_lookup

    return [password_lookup.password(str(t), kwargs, variables) for t in terms]


def lk_unvault(ctx: Any, terms: list[Any], variables: Mapping[str, Any]) -> list[Any]:
    """ansible.builtin.unvault: a file's content, decrypted with the run's vault secrets (the
    Templar's, set per run: never module-level). The decrypted text is registered with the run's
    SecretRegistry, which scrubs it from every output, and the Templar renders a template that
    calls unvault twice (the second time this returns the mask): the result is a Secret with a
    masked derivation, as for a vaulted variable. Plain text to the hosts, as every secret."""
    from ..secrets import MASK, Secret
    from ..vault import decrypt_if_vault, is_vault

    vault = getattr(ctx.environment, "hvprov_vault", None)
    registry = getattr(ctx.environment, "hvprov_secrets", None)
    out: list[Any] = []
    for term in terms:
        text = _read(variables, "files", str(term))
        if not is_vault(text):
            out.append(text)
            continue
        if vault is None:
            raise LookupError_(f"{term} is vault-encrypted and no vault password was given")
        plain = decrypt_if_vault(text, vault, str(term))
        plain = plain.reveal() if isinstance(plain, Secret) else (
            plain.decode("utf-8") if isinstance(plain, bytes) else str(plain))
        if registry is not None:
            registry.add(Secret(plain, source=f"unvault {term}"))
        out.append(MASK if variables.get("__hvprov_unvault_masked__") else plain)  # templating.UNVAULT_MASKED
    return out


def lk_random_choice(ctx: Any, terms: list[Any], variables: Mapping[str, Any]) -> list[Any]:
    return [random.SystemRandom().choice(terms)] if terms else []


LOOKUPS: dict[str, Callable[..., list[Any]]] = {
    "env": lk_env, "file": lk_file, "template": lk_template, "vars": lk_vars, "first_found": lk_first_found,
    "fileglob": lk_fileglob, "lines": lk_lines, "items": lk_items, "indexed_items": lk_indexed_items,
    "dict": lk_dict, "sequence": lk_sequence, "subelements": lk_subelements, "password": lk_password,
    "unvault": lk_unvault, "list": lk_list, "together": lk_together, "nested": lk_nested,
    "random_choice": lk_random_choice,
}
_FQCN = "ansible.builtin."


def _plugin(name: str) -> Callable[..., list[Any]]:
    key = name[len(_FQCN):] if name.startswith(_FQCN) else name
    if key not in LOOKUPS:
        raise LookupError_(f"lookup plugin {name!r} not found")
    return LOOKUPS[key]


def _invoke(ctx: Any, name: str, terms: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    wantlist = kwargs.pop("wantlist", False)
    errors = kwargs.pop("errors", "strict")
    plugin = _plugin(name)
    variables = ctx.get_all()
    try:
        res = plugin(ctx, list(terms), variables, **kwargs)
        if not isinstance(res, Sequence) or isinstance(res, str):
            raise TypeError(f"returned {type(res)} instead of {list}")
    except Exception as exc:
        if errors not in ("warn", "ignore"):
            raise LookupError_(f"The lookup plugin {name!r} failed: {exc}") from None
        return [] if wantlist else None
    if not wantlist and res:
        if len(res) == 1:
            return res[0]
        try:
            return ",".join(res)
        except TypeError:
            return res
    return res


@pass_context
def lookup(ctx: Any, name: str, *terms: Any, **kwargs: Any) -> Any:
    return _invoke(ctx, name, terms, kwargs)


@pass_context
def query(ctx: Any, name: str, *terms: Any, **kwargs: Any) -> Any:
    kwargs["wantlist"] = True
    return _invoke(ctx, name, terms, kwargs)


GLOBALS: dict[str, Any] = {"lookup": lookup, "query": query, "q": query}
__all__ = ["GLOBALS", "LOOKUPS", "find_file", "lookup", "query"]
