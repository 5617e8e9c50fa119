"""Kubernetes manifests: every overlay renders, validates against 1.32, and follows our pod policy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ["dev", "prod"]


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    kustomize = shutil.which("kustomize")
    if kubectl:
        cmd = [kubectl, "kustomize", str(ROOT / "k8s" / "overlays" / overlay)]
    elif kustomize:
        cmd = [kustomize, "build", str(ROOT / "k8s" / "overlays" / overlay)]
    else:
        pytest.fail("neither kubectl nor kustomize is installed")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="module", params=OVERLAYS)
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def test_every_object_validates_against_kubernetes_1_32(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        kubernetes_validate.validate(obj, "1.32.0", strict=True)


def workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in ("Deployment", "StatefulSet", "Job")]


def test_pods_are_hardened_with_limits(objects: list[dict[str, Any]]) -> None:
    for w in workloads(objects):
        for c in w["spec"]["template"]["spec"]["containers"]:
            where = f"{w['kind']}/{w['metadata']['name']}/{c['name']}"
            sc = c.get("securityContext", {})
            assert sc.get("runAsNonRoot") is True, where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            assert {"cpu", "memory"} <= set(c.get("resources", {}).get("limits", {})), where
            assert {"cpu", "memory"} <= set(c.get("resources", {}).get("requests", {})), where


def test_deployments_have_probes(objects: list[dict[str, Any]]) -> None:
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert deployments
    for d in deployments:
        c = d["spec"]["template"]["spec"]["containers"][0]
        assert "livenessProbe" in c and "readinessProbe" in c, d["metadata"]["name"]
        if any(p["name"] == "grpc" for p in c["ports"]):
            assert "grpc" in c["readinessProbe"], f"{d['metadata']['name']} should use a native gRPC probe"


def test_every_service_has_manifests_and_a_dockerfile(objects: list[dict[str, Any]]) -> None:
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    for service in sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists()):
        assert service in names, f"services/{service} has no Deployment in k8s/"
        assert (ROOT / "services" / service / "Dockerfile").exists()


def test_no_literal_secret_anywhere() -> None:
    for path in (ROOT / "k8s").rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                assert not doc.get("data") and not doc.get("stringData"), f"{path} holds a literal Secret"
    for overlay in OVERLAYS:
        assert not [o for o in render(overlay) if o["kind"] == "Secret"]


def test_generated_deploy_files_are_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_deploy.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
