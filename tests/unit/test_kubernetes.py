"""deploy/kubernetes: every manifest is a valid object of the pinned Kubernetes version (the
same check CI runs), the kustomizations hang together, and the pods keep their promises."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
#: The Kubernetes version the manifests are validated against, here and in .ci/run.
KUBERNETES_VERSION = "1.33.0"


def manifests() -> list[Path]:
    """Every Kubernetes object file: all YAML but the kustomizations (not cluster objects)."""
    return sorted(p for p in DEPLOY.rglob("*.yaml") if p.name != "kustomization.yaml")


def objects() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in manifests():
        for doc in yaml.safe_load_all(path.read_text()):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def pod(kind_name: tuple[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = objects()[kind_name]["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("path", manifests(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_manifest_validates_strictly(path: Path) -> None:
    docs = list(yaml.safe_load_all(path.read_text()))
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_validation_rejects_a_broken_manifest() -> None:
    """The check above can fail: a misspelt field is refused."""
    (doc,) = yaml.safe_load_all((DEPLOY / "base" / "serve-deployment.yaml").read_text())
    broken = copy.deepcopy(doc)
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFS"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_ci_validates_the_same_files_against_the_same_version() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "== kubernetes manifests" in ci
    assert f"kubernetes-validate --strict -k {KUBERNETES_VERSION}" in ci


def test_every_kustomization_entry_exists_and_no_manifest_is_orphaned() -> None:
    referenced: set[Path] = set()
    for kustomization in DEPLOY.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        entries = [*spec.get("resources", []), *(p["path"] for p in spec.get("patches", []))]
        for entry in entries:
            target = (kustomization.parent / entry).resolve()
            assert target.exists(), f"{kustomization}: {entry} does not exist"
            if target.is_dir():
                assert (target / "kustomization.yaml").exists()
            referenced.add(target)
    example = DEPLOY / "base" / "secret.example.yaml"  # applied by hand, never by kustomize
    assert set(manifests()) - referenced == {example}


def test_pods_run_non_root_read_only_with_resources() -> None:
    for name in ("pinbot-serve", "pinbot-worker"):
        spec = pod(("Deployment", name))
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001  # the Dockerfile's user
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"] and container["resources"]["limits"]
            assert container["command"] + container["args"] in (
                ["pinbot", "serve"], ["pinbot", "worker"])
            refs = {e.get("configMapRef", e.get("secretRef"))["name"]
                    for e in container["envFrom"]}
            assert refs == {"pinbot-config", "pinbot-secrets"}


def test_serve_is_probed_on_healthz_and_reachable_through_the_service() -> None:
    spec = pod(("Deployment", "pinbot-serve"))
    (container,) = spec["containers"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
        assert container[probe]["httpGet"]["port"] == "http"
    assert container["ports"][0]["containerPort"] == 3000
    service = objects()[("Service", "pinbot")]
    labels = objects()[("Deployment", "pinbot-serve")]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_disruption_budgets_and_autoscaler_target_the_deployments() -> None:
    found = objects()
    for name in ("pinbot-serve", "pinbot-worker"):
        labels = found[("Deployment", name)]["spec"]["template"]["metadata"]["labels"]
        budget = found[("PodDisruptionBudget", name)]["spec"]["selector"]["matchLabels"]
        assert budget.items() <= labels.items()
    target = found[("HorizontalPodAutoscaler", "pinbot-worker")]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "pinbot-worker")


def test_secret_example_holds_no_real_values() -> None:
    secret = objects()[("Secret", "pinbot-secrets")]
    for key, value in secret["stringData"].items():
        assert "replace-me" in value, key
    config = {k: v for doc in objects().values() if doc["kind"] == "ConfigMap"
              for k, v in doc["data"].items()}
    for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "W3IPFS_API_KEY",
                "W3IPFS_SECRET_KEY", "PINBOT_DATABASE_URL", "PINBOT_ENCRYPTION_KEY"):
        assert key not in config  # secrets belong in the Secret
    assert not any(re.search(r"://[^/@\s]+:[^/@\s]+@", v) for v in config.values())


def test_every_configured_key_is_a_real_setting_with_a_valid_value() -> None:
    """Each file read on its own (the overlay's ConfigMap shares the base's name): every key of
    every ConfigMap and of the Secret example is a setting pinbot reads, the merged values load,
    and PINBOT_PORT is the port the probes and the Service use."""
    names = {env_name(field) for field in Settings.model_fields}
    merged: dict[str, str] = {}
    for path in manifests():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc["kind"] in ("ConfigMap", "Secret"):
                data = doc.get("data") or doc.get("stringData") or {}
                assert set(data) <= names, (path, set(data) - names)
                merged.update(data)
    settings = Settings.model_validate(merged)
    assert settings.database_url.startswith("postgresql")  # not SQLite on a read-only root
    assert settings.redis_url is not None  # the workers need it
    (container,) = pod(("Deployment", "pinbot-serve"))["containers"]
    assert container["ports"][0]["containerPort"] == settings.port
