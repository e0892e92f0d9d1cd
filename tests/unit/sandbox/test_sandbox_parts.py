"""The sandbox's parts on their own: policy merging, the bubblewrap command, the egress proxy, containers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from quarterdeck import sandbox
from quarterdeck.errors import PlanError
from quarterdeck.runtimes.codex import CodexOptions, sandbox_mode
from quarterdeck.sandbox import bwrap, container, egress
from quarterdeck.sandbox.policy import SANDBOX_OPTION, Network, Policy, SandboxConfig, parse_override
from quarterdeck.stories.planfile import parse_plan


def test_agents_and_checks_get_their_own_network_and_a_task_overrides_the_project() -> None:
    config = SandboxConfig(memory_mb=2048, allow_hosts=["pypi.org"])
    assert config.policy("agent").network is Network.PROVIDERS
    assert config.policy("check").network is Network.NONE
    override = parse_override({"network": "open", "pids": 64, "allow_hosts": ["Example.COM:8443"]}, where="t")
    merged = config.policy("check", override)
    assert (merged.network, merged.memory_mb, merged.pids) == (Network.OPEN, 2048, 64)
    assert merged.allow_hosts == ("pypi.org", "example.com:8443")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"network": "sideways"}, "network: Input should be 'none', 'providers' or 'open'"),
        ({"pids": 2}, "pids: Input should be greater than or equal to 8"),
        ({"allow_hosts": ["http://evil/"]}, "is not a host or host:port"),
        ({"mount": "/"}, "mount: Extra inputs are not permitted"),
    ],
)
def test_a_bad_task_override_is_a_plan_error_with_its_line(raw: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match="task 'x': sandbox: ") as caught:
        parse_override(raw, where="task 'x'")
    assert problem in str(caught.value)


def test_the_plan_keeps_a_task_s_sandbox_beside_its_options() -> None:
    text = (
        "name: p\ndefaults:\n  sandbox: {memory_mb: 512}\ntasks:\n  - id: a\n    title: A\n"
        '    runtime: shell\n    options: {argv: ["true"]}\n    sandbox: {network: open}\n'
    )
    (task,) = parse_plan(text, "plan.yaml").tasks
    assert task.options == {"argv": ["true"], SANDBOX_OPTION: {"memory_mb": 512, "network": "open"}}
    with pytest.raises(PlanError, match=r"plan.yaml:9: 'sandbox' network: Input should be"):
        parse_plan(text.replace("network: open", "network: wide"), "plan.yaml")


def test_the_bubblewrap_command_shows_the_worktree_and_hides_secrets(tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    worktree.mkdir()
    layout = bwrap.Layout(rw=(worktree,), ro=(Path("/opt/tool"),), home=Path("/root"))
    argv = bwrap.bwrap_argv("/usr/bin/bwrap", layout, worktree, share_net=False)
    pairs = list(zip(argv, argv[1:], argv[2:], strict=False))
    assert ("--bind", str(worktree), str(worktree)) in pairs
    assert ("--ro-bind", "/usr", "/usr") in pairs
    assert ("--tmpfs", "/root") in [(a, b) for a, b, _ in pairs]
    if Path("/etc/shadow").exists():
        assert ("--ro-bind", "/dev/null", "/etc/shadow") in pairs
    for flag in ("--unshare-pid", "--unshare-net", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert "--unshare-net" not in bwrap.bwrap_argv("/usr/bin/bwrap", layout, worktree, share_net=True)


def test_derived_read_only_paths_never_reveal_the_state_dir_or_the_home(tmp_path: Path) -> None:
    home, state = tmp_path / "home", tmp_path / "state"
    for path in (home / ".pyenv" / "versions", state / "bin", tmp_path / "tools"):
        path.mkdir(parents=True)
    skipped: list[str] = []
    shown = bwrap.usable(
        [home, home / ".pyenv" / "versions", state / "bin", tmp_path, tmp_path / "tools", Path("/usr/bin")],
        never=[state],
        not_above=[home],
        skipped=skipped,
    )
    assert shown == [home / ".pyenv" / "versions", tmp_path / "tools"]
    assert skipped == [str(home), str(state / "bin"), str(tmp_path)]


def test_a_worktree_s_git_directory_is_writable_but_its_config_and_hooks_are_not(tmp_path: Path) -> None:
    common = tmp_path / "repo" / ".git"
    admin = common / "worktrees" / "t1"
    admin.mkdir(parents=True)
    (common / "hooks").mkdir()
    (common / "config").write_text("")
    (admin / "commondir").write_text("../..\n")
    worktree = tmp_path / "wt"
    worktree.mkdir()
    (worktree / ".git").write_text(f"gitdir: {admin}\n")
    assert bwrap.git_dirs(worktree) == ([common], [common / "config", common / "hooks"])


def test_the_allow_list_matches_hosts_and_ports() -> None:
    allow = egress.AllowList(["api.anthropic.com:443", "Example.org", "[::1]:8080"])
    assert allow.allows("API.anthropic.com", 443)
    assert not allow.allows("api.anthropic.com", 80)
    assert allow.allows("example.org", 22)
    assert allow.allows("::1", 8080)
    assert not allow.allows("169.254.169.254", 80)


async def test_the_egress_proxy_tunnels_allowed_hosts_and_refuses_the_rest(tmp_path: Path) -> None:
    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(b"echo " + line)
        await writer.drain()
        writer.close()

    contacts: list[tuple[str, int, bool]] = []

    async def note(host: str, port: int, ok: bool) -> None:
        contacts.append((host, port, ok))

    server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxy = egress.EgressProxy(tmp_path / "egress.sock", egress.AllowList([f"127.0.0.1:{port}"]), note)
    await proxy.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(tmp_path / "egress.sock"))
        writer.write(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 200 Connection established\r\n\r\n"
        writer.write(b"ping\n")
        assert await reader.readline() == b"echo ping\n"
        writer.close()
        reader, writer = await asyncio.open_unix_connection(str(tmp_path / "egress.sock"))
        writer.write(b"GET http://10.1.2.3:8080/x HTTP/1.1\r\nHost: 10.1.2.3\r\n\r\n")
        answer = await reader.read()
        assert answer.startswith(b"HTTP/1.1 403 Forbidden")
        assert b"10.1.2.3:8080 is not an allowed provider" in answer
        writer.close()
    finally:
        await proxy.close()
        server.close()
    assert contacts == [("127.0.0.1", port, True), ("10.1.2.3", 8080, False)]


def test_the_container_option_carries_the_same_policy() -> None:
    policy = Policy(network=Network.NONE, memory_mb=1024, pids=128, file_size_mb=64, cpu_s=60)
    argv = container.container_argv(
        "podman", "debian:12", policy, rw=(Path("/w/t"),), cwd=Path("/w/t"), env={"TOKEN": "s3cret"}, argv=["make"]
    )
    assert argv[1:4] == ["run", "--rm", "-i"]
    joined = " ".join(argv)
    for part in (
        "--network none",
        "--memory 1024m",
        "--pids-limit 128",
        f"--ulimit fsize={64 * 1024 * 1024}",
        "--ulimit cpu=60",
        "-v /w/t:/w/t:rw",
        "-w /w/t",
        "-e TOKEN",
        "--cap-drop=ALL",
    ):
        assert part in joined
    assert "s3cret" not in joined  # values are passed by name, read from the engine's environment
    assert argv[-2:] == ["debian:12", "make"]
    with pytest.raises(OSError, match="providers"):
        container.container_argv(
            "docker", "img", Policy(network=Network.PROVIDERS), rw=(), cwd=Path("/"), env={}, argv=["x"]
        )
    with pytest.raises(OSError, match="needs an image"):
        container.container_argv("docker", None, policy, rw=(), cwd=Path("/"), env={}, argv=["x"])


def test_codex_s_own_sandbox_is_off_inside_ours_unless_the_task_chose_one(tmp_path: Path) -> None:
    default, chosen = CodexOptions(), CodexOptions(sandbox="read-only")
    assert sandbox_mode(default) == "workspace-write"
    with sandbox.confine(sandbox.Confinement(policy=Policy(), rw=(tmp_path,))):
        assert sandbox_mode(default) == "danger-full-access"
        assert sandbox_mode(chosen) == "read-only"
