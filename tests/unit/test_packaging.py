"""The files a new user installs from: manifest, Dockerfile, README, CI agree with the code."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_manifests_declare_what_the_app_uses() -> None:
    for name, socket_mode in (("manifest.yml", True), ("manifest.http.yml", False)):
        manifest = yaml.safe_load((ROOT / name).read_text())
        commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
        assert set(commands) == {"/pin", "/pins", "/unpin"}
        assert all(c["usage_hint"] for c in commands.values())
        scopes = set(manifest["oauth_config"]["scopes"]["bot"])
        assert {"files:read", "chat:write", "commands", "users:read", "reactions:write"} <= scopes
        settings = manifest["settings"]
        assert "file_shared" in settings["event_subscriptions"]["bot_events"]
        assert settings["interactivity"]["is_enabled"] is True
        assert settings["socket_mode_enabled"] is socket_mode
        if not socket_mode:
            url = settings["event_subscriptions"]["request_url"]
            assert url.endswith("/slack/events")
            assert settings["interactivity"]["request_url"] == url
            assert all(c["url"] == url for c in commands.values())


def test_dockerfile_runs_serve_as_non_root_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("FROM ") == 2
    assert re.search(r"^USER \d+", text, re.M)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert 'CMD ["pinbot", "serve"]' in text


def test_readme_documents_every_setting_and_ci_runs_its_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    for field in Settings.model_fields.values():
        name = field.validation_alias.choices[0]  # type: ignore[union-attr]
        assert f"`{name}`" in readme, f"{name} missing from the README's configuration table"
    match = re.search(r"^```sh\n# test\n(.+)\n```", readme, re.M)
    assert match, "README needs a ```sh block starting with '# test'"
    assert match.group(1).strip() in (ROOT / ".ci" / "run").read_text()


def test_compose_file_runs_bot_two_workers_redis_postgres(tmp_path: Path) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["bot"]["command"] == ["pinbot", "serve"]
    workers = [s for s in services.values() if s.get("command") == ["pinbot", "worker"]]
    assert len(workers) == 2
    assert {"redis", "postgres"} <= set(services)
    env = services["bot"]["environment"]
    assert env["PINBOT_REDIS_URL"].startswith("redis://redis:")
    assert env["PINBOT_DATABASE_URL"].startswith("postgresql+asyncpg://")
    tool = shutil.which("docker-compose")
    if tool is None:
        return  # the structural checks above still hold; `config` needs the compose tool
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    (tmp_path / ".env").write_text("")
    result = subprocess.run([tool, "config", "-q"], cwd=tmp_path, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_every_security_claim_names_a_test_that_exists() -> None:
    text = (ROOT / "SECURITY.md").read_text()
    refs = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len(refs) >= 30
    for path, name in refs:
        source = (ROOT / path).read_text()
        assert re.search(rf"def {name}\(", source), f"{path}::{name} does not exist"


def test_the_image_gets_every_package_the_wheel_installs() -> None:
    """`pip install .` in the image builds the wheel: every package it lists must be copied
    in (the entry point `pinbot/` joins `bot/` and `handlers/`)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in packages:
        assert f"COPY {package} ./{package}" in dockerfile, package
    assert project["project"]["scripts"]["pinbot"] == "pinbot.main:main"
