"""The command table the lazy ``quarterdeck`` group lists, against the commands themselves."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click

from quarterdeck.cli.main import COMMANDS, main


def _command(ref: str) -> click.Command:
    module, _, attribute = ref.partition(":")
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command)
    return command


def _walk(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += _walk(sub, f"{path} {name}")
    return found


def test_each_listed_command_is_the_command_with_its_own_one_line_help() -> None:
    for name, (ref, short) in COMMANDS.items():
        command = _command(ref)
        assert command.name == name
        assert command.get_short_help_str(limit=1000) == short, name


def test_help_texts_show_no_rest_markup() -> None:
    for name, (ref, _) in COMMANDS.items():
        for path, command in _walk(_command(ref), name):
            texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
            for text in texts:
                assert "``" not in text, f"quarterdeck {path}: {text!r}"


def test_the_group_help_lists_every_command_without_importing_one() -> None:
    probe = (
        "import sys\n"
        "from quarterdeck.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('quarterdeck.cli.') and m != 'quarterdeck.cli.main'))\n"
        "print('sqlalchemy' in sys.modules, 'quarterdeck.app' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    *listing, imported, heavy = result.stdout.splitlines()
    assert imported == "[]"
    assert heavy == "False False"
    for name in COMMANDS:
        assert any(line.strip().startswith(name + " ") for line in listing), name
    assert set(COMMANDS) == set(main.list_commands(click.Context(main)))
