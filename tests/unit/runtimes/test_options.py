from __future__ import annotations

import pytest
from pydantic import ValidationError

from quarterdeck.errors import UnknownRuntimeError
from quarterdeck.runtimes.registry import Registry, default_registry
from quarterdeck.runtimes.scripted import ScriptedOptions
from quarterdeck.runtimes.shell import ShellOptions, ShellRuntime


def test_shell_needs_exactly_one_command() -> None:
    assert ShellOptions(argv=["true"]).command() == ["true"]
    assert ShellOptions(script="echo hi").command() == ["bash", "-c", "echo hi"]
    with pytest.raises(ValidationError, match="exactly one of 'argv'"):
        ShellOptions()
    with pytest.raises(ValidationError, match="exactly one of 'argv'"):
        ShellOptions(argv=["a"], script="b")


def test_unknown_options_are_errors() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ShellOptions.model_validate({"argv": ["true"], "comand": "x"})


def test_scripted_actions_are_checked_one_by_one() -> None:
    ScriptedOptions(actions=[{"write": "a.txt", "content": "x"}, {"run": "echo hi"}, {"say": "done"}])
    with pytest.raises(ValidationError, match=r"action 2 must have exactly one of: write, edit, run"):
        ScriptedOptions(actions=[{"say": "ok"}, {"wirte": "a.txt", "content": "x"}])
    with pytest.raises(ValidationError, match=r"action 1 \(edit\): old: Field required"):
        ScriptedOptions(actions=[{"edit": "a.txt", "new": "x"}])


def test_builtins_come_through_the_registry_and_unknown_names_list_them() -> None:
    registry = default_registry()
    assert {"scripted", "shell"} <= set(registry.names())
    with pytest.raises(UnknownRuntimeError) as caught:
        registry.get("claude")
    assert "available: " in str(caught.value)
    assert "scripted" in caught.value.available


def test_plugins_register_through_a_hook() -> None:
    registry = Registry()

    class Echo(ShellRuntime):
        name = "echo"

    registry.load(lambda register: register(Echo))
    assert registry.get("echo") is Echo
    registry.unregister("echo")
    assert registry.names() == []
