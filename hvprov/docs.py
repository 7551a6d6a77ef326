"""`hvprov doc`: module documentation generated from each module's argument schema."""

from __future__ import annotations

import textwrap
from typing import Any

from . import modules as registry
from .errors import OptionsError
from .playbook import suggest


def _get(name: str) -> Any:
    mod = registry.get(name)
    if mod is None:
        raise OptionsError(f"unknown module {name!r}{suggest(name, registry.MODULES)}")
    return mod


def module_list() -> str:
    width = max(len(n) for n in registry.MODULES)
    return "\n".join(f"{n.ljust(width)}  {m.summary}" for n, m in sorted(registry.MODULES.items()))


def _type_text(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_type_text(s, defs) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {_type_text(schema.get('items', {}), defs)}"
    if "const" in schema:
        return repr(schema["const"])
    return str(schema.get("type", "any"))


def _refs(schema: dict[str, Any]) -> list[str]:
    if "$ref" in schema:
        return [schema["$ref"].rsplit("/", 1)[-1]]
    out: list[str] = []
    for key in ("anyOf", "allOf", "oneOf"):
        for sub in schema.get(key, []):
            out += _refs(sub)
    if "items" in schema:
        out += _refs(schema["items"])
    return out


def _arg_lines(props: dict[str, Any], required: set[str], defs: dict[str, Any], indent: str) -> list[str]:
    lines: list[str] = []
    for arg, spec in props.items():
        if arg in required:
            flag = "required"
        elif "default" in spec:
            flag = f"default: {spec['default']!r}"
        else:
            flag = "default: []" if spec.get("type") == "array" else "optional"
        extra = [f"{k} {spec[k]}" for k in ("minimum", "exclusiveMinimum", "maximum", "minLength", "maxLength") if k in spec]
        lines.append(f"{indent}{arg}  ({_type_text(spec, defs)}; {flag}{'; ' + ', '.join(extra) if extra else ''})")
        if spec.get("description"):
            lines += [indent + "    " + t for t in textwrap.wrap(spec["description"], 80)]
        for ref in _refs(spec):
            sub = defs.get(ref, {})
            lines.append(f"{indent}    {ref} fields:")
            lines += _arg_lines(sub.get("properties", {}), set(sub.get("required", [])), defs, indent + "      ")
    return lines


def module_schema(name: str) -> dict[str, Any]:
    mod = _get(name)
    return {"name": mod.name, "summary": mod.summary, "description": mod.description,
            "example": mod.example, "args": mod.ArgsModel.model_json_schema()}


def module_doc(name: str) -> str:
    mod = _get(name)
    schema = mod.ArgsModel.model_json_schema()
    required = set(schema.get("required", []))
    lines = [f"{mod.name}: {mod.summary}", ""]
    if mod.description:
        lines += textwrap.wrap(mod.description, 88) + [""]
    lines.append("ARGUMENTS")
    props = schema.get("properties", {})
    if not props:
        lines.append("  (any key: value pairs)")
    lines += _arg_lines(props, required, schema.get("$defs", {}), "  ")
    if schema.get("additionalProperties") is not False and mod.ArgsModel.model_config.get("extra") == "allow":
        lines.append("  <any>  any other key becomes a variable")
    if mod.example:
        lines += ["", "EXAMPLE", textwrap.indent(mod.example.rstrip(), "  ")]
    return "\n".join(lines)
