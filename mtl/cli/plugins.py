"""``mtl plugins``: every plugin, what it registers, and load failures; ``mtl plugins
show NAME`` (see :mod:`mtl.cli.plugins_show`) describes one component."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mtl.cli import plugins_show
from mtl.cli.common import out, reports_errors
from mtl.cli.common import plugins as load

app = typer.Typer(invoke_without_command=True)
app.command("show")(plugins_show.show)


@app.callback()
@reports_errors
def plugins(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List plugins, what each registers, and plugins that failed to load.

    Built-in and installed (entry-point group 'mtl') plugins are listed with their
    components; a plugin that failed to import or register is shown with the reason.
    MTL_PLUGINS=a,b limits external plugins to those names (empty: none).
    'mtl plugins show NAME' prints one component's options with defaults and help.
    """
    if ctx.invoked_subcommand is not None:
        return
    loaded = load()
    reg = loaded.registries
    if as_json:
        data = {
            "plugins": [vars(p) for p in loaded.loaded],
            "failures": [
                {k: v for k, v in vars(f).items() if v is not None} for f in loaded.failures
            ],
            "components": {
                r.kind: {
                    e.name: {
                        "plugin": e.plugin,
                        "description": getattr(e.component, "description", ""),
                        **_weighting_info(r.kind, e.component),
                    }
                    for e in r
                }
                for r in reg.families.values()
            },
        }
        out.print(json.dumps(data, indent=2), markup=False, soft_wrap=True)
        return
    table = Table(title="plugins", title_justify="left")
    for col in ("plugin", "source", "version", "registers"):
        table.add_column(col)
    for p in loaded.loaded:
        regs = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in p.registered.items())
        table.add_row(p.name, p.source, p.version, escape(regs) or "—")
    out.print(table)
    comps = Table(title="components", title_justify="left")
    for col in ("kind", "name", "plugin", "description"):
        comps.add_column(col)
    for r in reg.families.values():
        for e in r:
            text = getattr(e.component, "description", "") or ""
            info = _weighting_info(r.kind, e.component)
            if info:  # what a weighting needs, and its options
                opts = ", ".join(f"{o['name']}={o['default']}" for o in info["options"])
                text += f" [needs {info['needs']}" + (f"; options {opts}]" if opts else "]")
            comps.add_row(r.kind, e.name, e.plugin, escape(text))
    out.print(comps)
    if loaded.failures:
        bad = Table(title="failed to load (skipped)", title_justify="left", style="red")
        bad.add_column("plugin")
        bad.add_column("reason")
        for f in loaded.failures:
            bad.add_row(f.name, escape(f.reason))
        out.print(bad)


def _weighting_info(kind: str, component: object) -> dict:
    """A weighting's ``needs`` (losses, gradients or representation) and options."""
    if kind != "weighting":
        return {}
    options = [
        {"name": o.name, "type": o.type.__name__, "default": o.default, "help": o.help}
        for o in getattr(component, "options", ())
    ]
    return {"needs": getattr(component, "needs", "losses"), "options": options}
