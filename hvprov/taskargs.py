"""Task arguments as ansible-core reads them: the `k=v` short form (split_args keeps quotes and
Jinja2 blocks whole) and the check of arguments against a module's schema."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import InputError, Location, PlaybookError
from .modules.argfront import validation_errors
from .modules.refusals import refused_arguments
from .templating import Templar
from .validate import missing_script_file, numbers_given_booleans
from .yamlsrc import location_at, location_of


def suggest(word: str, choices: Sequence[str] | set[str]) -> str:
    import difflib  # only when there is something to suggest (start-up: docs/cli-startup.md)

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def free_form(module: str, raw: str) -> dict[str, Any]:
    """Ansible's `module: k=v k2=v2` short form (and a bare script for powershell)."""
    if module == "powershell":
        return {"script": raw}
    if module in ("win_command", "win_shell"):  # ansible's raw-params modules: known k=v out, the rest is the command
        from .modules.win_command import free_form as raw_form

        return raw_form(raw, split_args)
    if module in ("debug", "fail") and "=" not in raw:
        return {"msg": raw}
    out: dict[str, Any] = {}
    for part in split_args(raw):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"expected key=value, got {part!r}")
        out[key] = value
    return out


def split_args(raw: str) -> list[str]:
    """Ansible's split_args: whitespace separates, except inside quotes and Jinja2 blocks."""
    parts: list[str] = []
    buf: list[str] = []
    quote = ""
    depth = 0
    i = 0
    while i < len(raw):
        two = raw[i:i + 2]
        ch = raw[i]
        if not quote and two in ("{{", "{%", "{#"):
            depth += 1
            buf.append(two)
            i += 2
            continue
        if not quote and depth and two in ("}}", "%}", "#}"):
            depth -= 1
            buf.append(two)
            i += 2
            continue
        if quote:
            if ch == quote and (i == 0 or raw[i - 1] != "\\"):
                quote = ""
            else:
                buf.append(ch)
        elif ch in ("'", '"') and not depth:
            quote = ch
        elif ch.isspace() and not depth:
            if buf:
                parts.append("".join(buf))
                buf = []
        else:
            buf.append(ch)
        i += 1
    if quote or depth:
        raise ValueError(f"unbalanced quotes or Jinja2 braces in {raw!r}")
    if buf:
        parts.append("".join(buf))
    return parts


def _check_templates(loader: Any, args: Mapping[str, Any], fpath: str) -> bool:
    """Every argument's templates parse and name no undeclared variable; reports the first that
    does not and returns False."""
    for key, value in args.items():
        try:
            loader.templar.undeclared(value)
        except InputError as exc:
            loader.err(exc.detail, location_of(args, key), f"{fpath}.{key}")
            return False
    return True


def check_args(loader: Any, mod: Any, args: Mapping[str, Any], where: Location | None, fpath: str) -> None:
    """Module arguments against the module's schema: names always, types where nothing is templated."""
    model = mod.ArgsModel
    if getattr(model, "accepts", None) is not None and model.accepts(args):
        # plain valid arguments of a controller module (modules/argfront.py): no unknown, refused
        # or mistyped key to report, as the model would say; only the templates to check
        _check_templates(loader, args, fpath)
        return
    fields = set(model.model_fields) | {  # and the aliases a field accepts (ansible's *_sec names)
        str(a) for f in model.model_fields.values()
        for a in getattr(f.validation_alias, "choices", ())}
    extra_ok = model.model_config.get("extra") == "allow"
    refused = getattr(model, "REFUSED", {})  # documented arguments hvprov refuses (modules/refusals.py)
    fields |= set(refused)
    for key, reason in refused_arguments(model, args):
        loader.err(reason, location_of(args, key), f"{fpath}.{key}")
    for key in args:
        if key not in fields and not extra_ok:
            loader.err(f"unknown argument {key!r} for module {mod.name}{suggest(str(key), fields)}"
                     f" (expected one of: {', '.join(sorted(fields))})", location_of(args, key), f"{fpath}.{key}")
    if not _check_templates(loader, args, fpath):
        return
    for key in numbers_given_booleans(model, args):
        loader.err(f"expected a number, got the boolean {str(args[key]).lower()} (from yes/no/true/false)",
                   location_of(args, key), f"{fpath}.{key}")
    if mod.name == "powershell" and (bad := missing_script_file(args.get("file"), Path(loader.path).parent,
                                                                location_of(args, "file"), f"{fpath}.file")):
        loader.problems.append(PlaybookError(bad.detail, location=bad.location, field=bad.field))
    if has_template(args):
        return
    try:
        model.model_validate(dict(args))
    except Exception as exc:
        if (errors := validation_errors(exc)) is None:
            raise
        for e in errors:
            loc = [str(x) for x in e["loc"]]
            if loc and loc[0] in args and ((loc[0] not in fields and not extra_ok) or loc[0] in refused):
                continue  # already reported as unknown or refused
            loader.err(describe_validation(e, model), location_at(args, tuple(e["loc"])) or where,
                     f"{fpath}.{'.'.join(loc)}" if loc else fpath)


def has_template(value: Any) -> bool:
    if isinstance(value, str):
        return Templar.is_template(value)
    if isinstance(value, Mapping):
        return any(has_template(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_template(v) for v in value)
    return False


def _nested_fields(model: Any, path: Sequence[Any]) -> set[str]:
    """Field names of the (sub)model a pydantic error path ends in (for "did you mean")."""
    import typing

    current = model
    for part in path:
        if isinstance(part, int) or current is None:
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return set()
        nxt = None
        for arg in [field.annotation, *typing.get_args(field.annotation)]:
            for inner in [arg, *typing.get_args(arg)]:
                if hasattr(inner, "model_fields"):
                    nxt = inner
        current = nxt
    return set(getattr(current, "model_fields", {}) or {})


def describe_validation(e: Mapping[str, Any], model: Any = None) -> str:
    """A pydantic error as 'what is wrong (expected …, got …)'."""
    if e.get("type") == "extra_forbidden" and model is not None and e.get("loc"):
        *parent, key = e["loc"]
        fields = _nested_fields(model, parent)
        return f"unknown argument {key!r}{suggest(str(key), fields)}" + (
            f" (expected one of: {', '.join(sorted(fields))})" if fields else "")
    got = e.get("input")
    got_text = f"{type(got).__name__} {got!r:.60}" if got is not None else "nothing"
    msg = str(e.get("msg", "invalid value")).removeprefix("Value error, ")
    if e.get("type") == "missing":
        return "required argument is missing"
    if e.get("type") == "extra_forbidden":
        return "unknown argument"
    return f"{msg} (got {got_text})"
