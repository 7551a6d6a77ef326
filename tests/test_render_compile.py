"""render._compile (one parse per packaged template) against `Environment.get_template`, the
loader path it replaces: for every renderable template, the same compiled code (the render
function and every block, compared as code objects: bytecode, constants, names, file name and
line numbers), the same name and file name, the same globals, and the parameter names
`find_undeclared_variables` gives on a separate parse."""

from __future__ import annotations

import jinja2.meta
import pytest

from hvprov.render import ScriptRenderer, _compile

TEMPLATES = ScriptRenderer().templates()


def test_there_are_templates_to_compare() -> None:
    assert len(TEMPLATES) > 10 and "facts/host.ps1.j2" in TEMPLATES


@pytest.mark.parametrize("template", TEMPLATES)
def test_one_parse_compiles_what_the_loader_compiles(template: str) -> None:
    ours_env, ref_env = ScriptRenderer()._env, ScriptRenderer()._env
    tpl, names = _compile(ours_env, template)
    ref = ref_env.get_template(template)
    assert (tpl.name, tpl.filename) == (ref.name, ref.filename)
    assert tpl.root_render_func.__code__ == ref.root_render_func.__code__
    assert sorted(tpl.blocks) == sorted(ref.blocks)
    assert all(tpl.blocks[b].__code__ == ref.blocks[b].__code__ for b in ref.blocks)
    assert tpl.globals.keys() == ref.globals.keys()
    source = ref_env.loader.get_source(ref_env, template)[0]
    expected = jinja2.meta.find_undeclared_variables(ref_env.parse(source)) - set(ref_env.globals)
    assert names == frozenset(expected)


def test_the_facts_script_renders_as_through_the_loader() -> None:
    ours = ScriptRenderer().render("facts/host.ps1.j2", probe_paths=["C:\\x'y"]).text
    env = ScriptRenderer()._env
    ref = env.get_template("facts/host.ps1.j2").render(probe_paths=["C:\\x'y"])
    assert ours.endswith(ref) and len(ref) > 10_000  # the render's text: its header lines, then the body
