"""The deployment files, checked statically (no Docker daemon or cluster exists where the suite runs):
the Dockerfile's stages and user, compose.yaml's services against them, every Kubernetes manifest against the
API schema (kubernetes-validate), and every QUARTERDECK_* variable they set is a real setting."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # kubernetes-validate ships no type stubs
import pytest
import yaml

from quarterdeck.api.settings import ApiSettings
from quarterdeck.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
#: the Kubernetes version the manifests are checked against
K8S = "1.30.0"


def _stages() -> dict[str, tuple[str, list[str]]]:
    """Each stage of the Dockerfile: its base, and its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    stages: dict[str, tuple[str, list[str]]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            base, _, name = line[5:].partition(" AS ")
            current = []
            stages[name.strip()] = (base.strip(), current)
        else:
            current.append(line)
    return stages


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def _manifests() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (p, doc) for p in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")) for doc in yaml.safe_load_all(p.read_text())
    ]


def _known_variables() -> set[str]:
    names = {f"QUARTERDECK_{n.upper()}" for n in (*Settings.model_fields, *ApiSettings.model_fields)}
    return names | {"QUARTERDECK_SANDBOX"}  # read by the sandbox's probe (docs/sandbox.md)


def test_the_image_builds_in_stages_and_runs_as_an_unprivileged_user() -> None:
    stages = _stages()
    assert list(stages) == ["build", "runtime", "agents"]
    assert stages["agents"][0] == "runtime"  # the agent CLIs are a separate, optional target
    for name in ("runtime", "agents"):
        users = [i.split()[1] for i in stages[name][1] if i.upper().startswith("USER ")]
        assert users, name
        assert users[-1].split(":")[0] not in ("root", "0"), name
    runtime = " ".join(stages["runtime"][1])
    assert "COPY --from=build /wheels" in runtime
    for tool in ("git", "bubblewrap"):
        assert tool in runtime
    assert not any("npm" in i for i in stages["runtime"][1])


def test_compose_runs_the_database_redis_a_git_remote_the_api_and_several_workers() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "redis", "git", "migrate", "serve", "worker"} <= set(services)
    stages = _stages()
    anchor = compose["x-quarterdeck"]
    for name, service in services.items():
        merged = {**anchor, **service} if "<<" in service or name in ("git", "migrate", "serve", "worker") else service
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        if "build" in merged:
            assert merged["build"]["target"] in stages, name
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["worker"]["build"]["target"] == "agents"
    git_command = services["git"]["command"]
    assert git_command[0] == "daemon"
    assert "--enable=receive-pack" in git_command
    env = services["worker"]["environment"]
    assert set(env) - {"<<"} <= _known_variables()
    assert set(anchor["environment"]) <= _known_variables()


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="the docker client has no compose plugin here; the file is checked structurally above",
)
def test_docker_compose_accepts_the_file() -> None:
    checked = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "QUARTERDECK_SECRET_KEY": "x" * 48},
    )
    assert checked.returncode == 0, checked.stderr


def test_every_kubernetes_manifest_is_valid_against_the_api_schema() -> None:
    manifests = _manifests()
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in manifests}
    assert {
        ("Secret", "quarterdeck"),
        ("Job", "quarterdeck-migrate"),
        ("Deployment", "quarterdeck-api"),
        ("Service", "quarterdeck-api"),
        ("Deployment", "quarterdeck-worker"),
    } <= kinds
    for path, doc in manifests:
        try:
            kubernetes_validate.validate(doc, K8S, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{path.name}: {doc['kind']} {doc['metadata']['name']}: {exc.message}") from None


def test_the_manifests_agree_with_each_other_and_with_the_settings() -> None:
    manifests = {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in _manifests()}
    secret_keys = set(manifests[("Secret", "quarterdeck")]["stringData"])
    for kind, name in (
        ("Job", "quarterdeck-migrate"),
        ("Deployment", "quarterdeck-api"),
        ("Deployment", "quarterdeck-worker"),
    ):
        pod = manifests[(kind, name)]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            for var in container.get("env", []):
                assert var["name"] in _known_variables(), var["name"]
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    assert ref["name"] == "quarterdeck"
                    assert ref["key"] in secret_keys
    api = manifests[("Deployment", "quarterdeck-api")]
    service = manifests[("Service", "quarterdeck-api")]
    assert service["spec"]["selector"] == api["spec"]["template"]["metadata"]["labels"]
    worker = manifests[("Deployment", "quarterdeck-worker")]
    assert worker["spec"]["replicas"] >= 2
