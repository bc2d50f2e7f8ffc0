"""The deployment files: the image builds and runs as a non-root user, compose splits the shards, systemd accepts
the units. Each test that needs a tool skips, saying why, where the tool is missing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT_S = 1800
INSTALLED_PYTHON = "/opt/t2-companion/bin/python"


def docker_or_skip() -> str:
    """The docker command, when a daemon answers it; else the test is skipped with the reason."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed")
    try:
        info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("the Docker daemon did not answer `docker info` within 30 s")
    if info.returncode != 0:
        problem = next((line for line in info.stderr.splitlines() if line.strip()), f"exit {info.returncode}")
        pytest.skip(f"the Docker daemon does not answer: {problem.strip()}")
    return docker


@pytest.fixture(scope="module")
def image() -> Iterator[tuple[str, str]]:
    """(docker, tag) of the image built from the Dockerfile, removed afterwards."""
    docker = docker_or_skip()
    tag = f"t2-companion-test:{uuid.uuid4().hex[:12]}"
    built = subprocess.run(
        [docker, "build", "--tag", tag, str(ROOT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
    )
    assert built.returncode == 0, f"docker build failed:\n{built.stderr[-6000:]}"
    try:
        yield docker, tag
    finally:
        subprocess.run([docker, "image", "rm", "--force", tag], capture_output=True, timeout=120, check=False)


def test_the_image_builds_and_answers_as_a_non_root_user(image: tuple[str, str]) -> None:
    docker, tag = image
    user = subprocess.run(
        [docker, "image", "inspect", "--format", "{{.Config.User}} {{json .Config.Volumes}}", tag],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert user.startswith("t2:t2 ") and '"/data"' in user

    answered = subprocess.run(
        [docker, "run", "--rm", tag, "ask", "--persona", "sarah", "who is dyson?"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.startswith("Sarah Connor:") and "Dyson" in answered.stdout
    assert "building the understanding model" not in answered.stderr, "the image should carry the built model"

    uid = [docker, "run", "--rm", "--entrypoint", "id", tag, "-u"]
    whoami = subprocess.run(uid, capture_output=True, text=True, timeout=120, check=True)
    assert whoami.stdout.strip() != "0"


def shard_ids(value: str) -> list[int]:
    """SHARD_IDS as documented: a range ``0-3`` or a comma list ``0,2``."""
    if "-" in value:
        first, last = value.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(part) for part in value.split(",")]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def test_compose_splits_every_shard_once_over_bots_on_its_postgresql() -> None:
    services = compose()["services"]
    bots = {name: service for name, service in services.items() if service.get("environment", {}).get("SHARD_IDS")}
    assert len(bots) == 2

    counts = {int(bot["environment"]["SHARD_COUNT"]) for bot in bots.values()}
    assert counts == {4}, "every process must be told the same SHARD_COUNT"
    shards = sorted(shard for bot in bots.values() for shard in shard_ids(bot["environment"]["SHARD_IDS"]))
    assert shards == [0, 1, 2, 3], "each shard is run by exactly one process"

    for name, bot in bots.items():
        environment = bot["environment"]
        assert "@postgres:5432/" in environment["DATABASE_URL"], f"{name} is not on the compose PostgreSQL"
        assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert environment["METRICS_PORT"] and "/healthz" in " ".join(bot["healthcheck"]["test"])
        assert "${METRICS_PORT}" in " ".join(bot["healthcheck"]["test"]).replace("$$", "$")
    assert services["migrate"]["command"] == ["migrate"]
    databases = {bot["environment"]["DATABASE_URL"] for bot in bots.values()}
    assert len(databases) == 1, "the processes of one bot share one database"
    assert services["migrate"]["environment"]["DATABASE_URL"] in databases, "migrate upgrades another database"


def test_the_systemd_units_are_accepted_by_systemd(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The units start the program installed in /opt/t2-companion; point them at this Python to check the rest.
    for unit, name in (("t2-companion@.service", "t2-companion@0-1.service"), ("t2-companion-migrate.service",) * 2):
        text = (ROOT / "deploy" / unit).read_text(encoding="utf-8")
        assert INSTALLED_PYTHON in text
        (tmp_path / name).write_text(text.replace(INSTALLED_PYTHON, sys.executable), encoding="utf-8")

    checked = subprocess.run(
        [analyze, "verify", "--man=no", "./t2-companion@0-1.service", "./t2-companion-migrate.service"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0 and not checked.stderr.strip() and not checked.stdout.strip(), checked.stderr
