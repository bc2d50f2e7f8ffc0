"""Settings from the environment or a ``.env`` file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from bot.sharding import Ownership, ShardRangeError, parse_shard_ids

__all__ = ["DEFAULT_DATABASE_URL", "ConfigError", "Settings", "load_settings", "normalise_database_url"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/t2-companion.db"

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class ConfigError(Exception):
    """A setting is wrong; the message is one line that names it."""


def normalise_database_url(raw: str, setting: str = "DATABASE_URL") -> URL:
    """Parse a database URL and pick the async driver for its backend; errors name ``setting``."""
    try:
        url = make_url(raw.strip())
    except ArgumentError as exc:
        raise ConfigError(f"{setting}: cannot parse {raw!r} as a database URL") from exc
    driver = _DRIVERS.get(url.drivername)
    if driver is None:
        known = "sqlite:///path/to/file.db or postgresql://user:password@host/db"
        raise ConfigError(f"{setting}: unsupported scheme {url.drivername!r}; use {known}")
    url = url.set(drivername=driver)
    if driver.startswith("sqlite") and url.database in (None, "", ":memory:"):
        raise ConfigError(f"{setting}: an in-memory SQLite database would lose everything; give a file path")
    return url


def _check_sqlite_location(url: URL) -> None:
    """Create the SQLite file's folder and make sure it is writable."""
    assert url.database is not None
    folder = Path(url.database).expanduser().resolve().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"DATABASE_URL: cannot create the folder {folder} ({exc.strerror})") from exc
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"DATABASE_URL: the folder {folder} is not writable")


class Settings(BaseSettings):
    """The bot's settings; every field can be set as an environment variable of the same name."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr | None = None
    discord_guild_id: int | None = Field(default=None, description="sync slash commands to this guild only")
    database_url: str = DEFAULT_DATABASE_URL
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None
    """None picks INFO for the bot and WARNING for one-shot commands."""
    log_format: Literal["text", "json"] = Field(
        default="text", description="text lines, or one JSON object per line with guild, channel and shard"
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="serve /healthz and /metrics on this port (0: any free port)"
    )
    """None: no server (and no metrics kept)."""
    metrics_host: str = Field(default="127.0.0.1", description="the address /healthz and /metrics listen on")
    chat_turns_per_user: int = Field(default=5, ge=1, description="chat turns one user may take per period")
    chat_turn_period_s: float = Field(default=10.0, gt=0, description="the period of chat_turns_per_user")
    message_content_intent: bool = Field(default=True, description="ask Discord for message content")
    outbox_poll_s: float = Field(default=5.0, gt=0, description="how often posts left unsent are tried again")
    outbox_max_age_s: float = Field(
        default=900.0, gt=0, description="a post still unsent after this long is given up and logged, not sent late"
    )
    db_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="how long a database call may wait for a lock, a connection or a statement before it fails",
    )
    discord_timeout_s: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="how long one request to Discord may take (waits for a rate limit come on top)",
    )
    chat_cache_size: int = Field(
        default=20_000, ge=1, description="conversations kept in memory; the least recently used are reloaded"
    )
    settings_refresh_s: float = Field(
        default=5.0,
        ge=0,
        description="how soon a setting changed through another process (a user's persona, a channel's) is seen",
    )
    llm_base_url: str | None = Field(
        default=None,
        description="an OpenAI-compatible server, e.g. http://localhost:11434/v1 for Ollama (off if unset)",
    )
    llm_model: str | None = Field(default=None, description="the model the server should use, e.g. llama3.1")
    llm_api_key: SecretStr | None = Field(default=None, description="the server's API key, if it needs one")
    llm_timeout_s: float = Field(default=8.0, gt=0, le=120, description="how long a model reply may take in all")
    llm_max_tokens: int = Field(default=300, ge=16, description="the longest model reply, in tokens")
    llm_daily_tokens: int = Field(default=200_000, ge=0, description="each guild's model budget per day, in tokens")
    shard_count: int | Literal["auto"] | None = Field(
        default=None, description="how many shards the bot has in all, or auto (Discord's recommendation)"
    )
    shard_ids: tuple[int, ...] | None = Field(
        default=None, description="the shards this process runs, such as 0-3 or 0,2 (default: all of them)"
    )
    shard_lock_wait_s: float = Field(
        default=30.0,
        ge=0,
        description="how long to wait for a shard that another process still runs before exiting with an error",
    )

    @field_validator("llm_base_url", "llm_model", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("llm_model")
    @classmethod
    def _model_with_server(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("llm_base_url") and not value:
            raise ValueError("LLM_BASE_URL is set: name the model to use too (for Ollama, e.g. llama3.1)")
        return value

    @field_validator("shard_count", mode="before")
    @classmethod
    def _shard_count(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower() or None
            if value not in (None, "auto"):
                if not value.isdigit():
                    raise ValueError("expected a number of shards, or auto")
                value = int(value)
        if isinstance(value, int) and value < 1:
            raise ValueError("there must be at least one shard")
        return value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_ids(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                value = parse_shard_ids(value)
            except ShardRangeError as exc:
                raise ValueError(str(exc)) from exc
        count = info.data.get("shard_count")
        if value is not None and not isinstance(count, int):
            raise ValueError("give SHARD_COUNT as a number too, so the shards are split the same way everywhere")
        if isinstance(value, tuple | list) and isinstance(count, int):
            try:
                Ownership.of(count, value)
            except ShardRangeError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _blank_port_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("discord_token", mode="before")
    @classmethod
    def _blank_token_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def sharded(self) -> bool:
        """True when shards are configured (otherwise one process runs the bot unsharded, as Discord allows for
        small bots)."""
        return self.shard_count is not None

    def ownership(self, shard_count: int | None = None) -> Ownership:
        """The shards this process runs; ``shard_count`` is the count Discord gave when SHARD_COUNT is auto."""
        count = self.shard_count if isinstance(self.shard_count, int) else shard_count
        return Ownership.of(count or 1, self.shard_ids)

    def data_dir(self) -> Path:
        """The bot's data folder: the SQLite file's folder, or ``data`` here for a server database."""
        url = normalise_database_url(self.database_url)
        if url.drivername.startswith("sqlite") and url.database:
            return Path(url.database).expanduser().resolve().parent
        return Path("data").resolve()

    def resolved_database_url(self) -> URL:
        """The database URL with its async driver, its SQLite folder created and checked."""
        url = normalise_database_url(self.database_url)
        if url.drivername.startswith("sqlite"):
            _check_sqlite_location(url)
        return url


def load_settings() -> Settings:
    """Read the settings, turning validation errors into one ConfigError line naming the setting."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise ConfigError(f"{name}: {first['msg'].removeprefix('Value error, ')}") from exc
    settings.resolved_database_url()
    return settings
