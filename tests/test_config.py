"""Settings: environment variables, database URL normalisation, one-line errors that name the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.config import DEFAULT_DATABASE_URL, ConfigError, Settings, load_settings, normalise_database_url
from db.engine import create_engine

ROOT = Path(__file__).resolve().parent.parent
SETTING_NAMES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting comes from the developer's environment or a ``.env`` file: the cwd is an empty folder."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/nested/folder/bot.db")
    monkeypatch.setenv("DISCORD_TOKEN", "abc.def.ghi")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("DISCORD_GUILD_ID", "1234567890123456789")
    assert not (tmp_path / "nested").exists()

    settings = load_settings()

    assert settings.database_url == f"sqlite:///{tmp_path}/nested/folder/bot.db"
    assert settings.discord_token is not None and settings.discord_token.get_secret_value() == "abc.def.ghi"
    assert "abc.def.ghi" not in repr(settings)  # the token is a secret
    assert settings.log_level == "DEBUG"
    assert settings.discord_guild_id == 1_234_567_890_123_456_789
    assert (tmp_path / "nested" / "folder").is_dir()  # load_settings checked the SQLite location
    url = settings.resolved_database_url()
    assert url.drivername == "sqlite+aiosqlite"
    assert url.database == f"{tmp_path}/nested/folder/bot.db"


def test_blank_token_means_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "   ")
    assert load_settings().discord_token is None


def test_env_file_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=error\nDISCORD_TOKEN=from-file\n", encoding="utf-8")
    assert load_settings().log_level == "ERROR"
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    settings = load_settings()
    assert settings.log_level == "WARNING"
    assert settings.discord_token is not None and settings.discord_token.get_secret_value() == "from-file"


async def test_default_database_is_a_sqlite_file_under_data(tmp_path: Path) -> None:
    assert not (tmp_path / "data").exists()

    settings = load_settings()

    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.discord_token is None and settings.log_level is None
    assert (tmp_path / "data").is_dir()
    assert not (tmp_path / "data" / "t2-companion.db").exists()  # the file itself is made on first use
    url = settings.resolved_database_url()
    assert (url.drivername, url.database) == ("sqlite+aiosqlite", "data/t2-companion.db")
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE probe (x INTEGER)"))
    finally:
        await engine.dispose()
    assert (tmp_path / "data" / "t2-companion.db").is_file()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite:////abs/path/x.db", "sqlite+aiosqlite:////abs/path/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("  sqlite:///x.db\n", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u:secret@h:5433/db", "postgresql+asyncpg://u:secret@h:5433/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_url_gets_the_async_driver(raw: str, expected: str) -> None:
    assert normalise_database_url(raw).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    "raw",
    ["mysql://u@h/db", "foo://x", "postgresql+psycopg2://u@h/db", "not a url", "", "sqlite://", "sqlite:///:memory:"],
)
def test_bad_database_urls_are_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    with pytest.raises(ConfigError) as direct:
        normalise_database_url(raw)
    monkeypatch.setenv("DATABASE_URL", raw)
    with pytest.raises(ConfigError) as loaded:
        load_settings()
    for error in (direct.value, loaded.value):
        assert str(error).startswith("DATABASE_URL: ")
        assert "\n" not in str(error)


def test_in_memory_sqlite_is_refused_with_a_reason() -> None:
    with pytest.raises(ConfigError, match=r"^DATABASE_URL: an in-memory SQLite database would lose everything"):
        normalise_database_url("sqlite+aiosqlite://")


def test_unwritable_sqlite_folder_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A folder under a regular file cannot be created, even by root (chmod would not stop root)."""
    (tmp_path / "file.txt").write_text("not a folder")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/file.txt/sub/x.db")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("DATABASE_URL: cannot create the folder ")
    assert f"{tmp_path}/file.txt/sub" in message
    assert "\n" not in message


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write to a read-only folder")
def test_read_only_sqlite_folder_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{folder}/x.db")
        with pytest.raises(ConfigError, match=r"^DATABASE_URL: the folder .* is not writable$"):
            load_settings()
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOG_LEVEL", "LOUD"),
        ("LOG_LEVEL", "trace"),
        ("DISCORD_GUILD_ID", "my-guild"),
        ("LOG_FORMAT", "xml"),
        ("METRICS_PORT", "70000"),
        ("METRICS_PORT", "http"),
    ],
)
def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message


@pytest.mark.parametrize("level", ["DEBUG", "info", "Warning", "error"])
def test_log_levels_are_case_insensitive(monkeypatch: pytest.MonkeyPatch, level: str) -> None:
    monkeypatch.setenv("LOG_LEVEL", level)
    assert load_settings().log_level == level.upper()


def test_metrics_are_off_and_logs_are_text_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.metrics_port, settings.metrics_host, settings.log_format) == (None, "127.0.0.1", "text")
    monkeypatch.setenv("METRICS_PORT", " ")
    assert load_settings().metrics_port is None
    monkeypatch.setenv("METRICS_PORT", "9108")
    monkeypatch.setenv("METRICS_HOST", "0.0.0.0")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    settings = load_settings()
    assert (settings.metrics_port, settings.metrics_host, settings.log_format) == (9108, "0.0.0.0", "json")


def test_cli_reports_a_bad_database_url_in_one_line(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}
    env["DATABASE_URL"] = "foo://x"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "hi"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "DATABASE_URL" in lines[0] and "foo" in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing was created
