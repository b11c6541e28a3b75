"""Typer commands: parse, resolve names, call the core, print. No heavy imports at start-up."""
