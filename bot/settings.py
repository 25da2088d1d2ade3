"""Configuration: the only place that reads the environment (and `.env`).

Every name here is public interface: operators put these in their environment, so they are
spelled exactly as the README documents them. Secrets are `SecretStr` so that a stray `repr()`
or log line shows `**********`, never the value.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .keys import parse_keys
from .units import parse_duration, parse_rate, parse_size

__all__ = ["ConfigError", "Settings", "env_name", "load_settings", "parse_rate"]

DEFAULT_API_URL = "https://api.w3ipfs.aioz.network/api"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
#: Slack's own file hosts (a host matches itself and its subdomains). Only these get the token.
DEFAULT_DOWNLOAD_HOSTS = ("files.slack.com", "slack-files.com", "slack-edge.com")
#: A Slack download slower than this on average is abandoned (64 KiB/s: a poor mobile link).
DEFAULT_MIN_DOWNLOAD_RATE = 64 * 1024
#: What every download may take on top of size / rate: connecting, redirects, a slow start.
DEFAULT_DOWNLOAD_ALLOWANCE = 30.0

class ConfigError(Exception):
    """A setting is missing or malformed. Its message is one line, fit for a terminal."""


def _env(name: str) -> Any:
    """Bind a field to exactly one environment variable name (case-insensitive)."""
    return AliasChoices(name)


class Settings(BaseSettings):
    """pinbot's settings. Construct with `load_settings()` to get friendly errors."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    w3ipfs_api_url: str = Field(DEFAULT_API_URL, validation_alias=_env("W3IPFS_API_URL"))
    w3ipfs_api_key: SecretStr | None = Field(None, validation_alias=_env("W3IPFS_API_KEY"))
    w3ipfs_secret_key: SecretStr | None = Field(None, validation_alias=_env("W3IPFS_SECRET_KEY"))
    #: Unset: each account's own gateway (`GET /gateways/`), else the public gateway.
    w3ipfs_gateway_url: str | None = Field(None, validation_alias=_env("W3IPFS_GATEWAY_URL"))
    w3ipfs_timeout: float = Field(30.0, gt=0, validation_alias=_env("W3IPFS_TIMEOUT"))
    w3ipfs_upload_timeout: float = Field(
        600.0, gt=0, validation_alias=_env("W3IPFS_UPLOAD_TIMEOUT")
    )
    w3ipfs_max_retries: int = Field(4, ge=0, le=20, validation_alias=_env("W3IPFS_MAX_RETRIES"))

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field(DEFAULT_SLACK_API_URL, validation_alias=_env("SLACK_API_URL"))
    slack_client_id: str | None = Field(None, validation_alias=_env("SLACK_CLIENT_ID"))
    slack_client_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_CLIENT_SECRET")
    )

    #: URLs may carry a password: kept out of repr (and redacted in logs by bot.logs).
    database_url: str = Field(
        "sqlite+aiosqlite:///pinbot.db", validation_alias=_env("PINBOT_DATABASE_URL"),
        repr=False,
    )
    redis_url: str | None = Field(None, validation_alias=_env("PINBOT_REDIS_URL"), repr=False)
    max_file_mb: int = Field(1024, gt=0, validation_alias=_env("PINBOT_MAX_FILE_MB"))
    concurrency: int = Field(4, ge=1, le=256, validation_alias=_env("PINBOT_CONCURRENCY"))
    host: str = Field("0.0.0.0", validation_alias=_env("PINBOT_HOST"))
    port: int = Field(3000, ge=0, le=65535, validation_alias=_env("PINBOT_PORT"))
    log_level: str = Field("INFO", validation_alias=_env("PINBOT_LOG_LEVEL"))
    download_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_DOWNLOAD_HOSTS),
        validation_alias=_env("PINBOT_DOWNLOAD_HOSTS"),
    )
    auto_pin: str = Field("all", validation_alias=_env("PINBOT_AUTO_PIN"))
    admin_users: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("PINBOT_ADMIN_USERS")
    )
    encryption_key: SecretStr | None = Field(
        None, validation_alias=_env("PINBOT_ENCRYPTION_KEY")
    )
    api_rate: float = Field(180, gt=0, validation_alias=_env("PINBOT_API_RATE"))
    pin_reaction: str = Field("pushpin", min_length=1, max_length=100,
                              validation_alias=_env("PINBOT_PIN_REACTION"))
    max_event_age: float = Field(24 * 3600, gt=0, validation_alias=_env("PINBOT_MAX_EVENT_AGE"))
    progress_interval: float = Field(
        3.0, ge=0.05, validation_alias=_env("PINBOT_PROGRESS_INTERVAL")
    )
    status_poll_seconds: float = Field(
        3600, ge=0, validation_alias=_env("PINBOT_STATUS_POLL_SECONDS")
    )
    status_poll_interval: float = Field(
        5.0, gt=0, validation_alias=_env("PINBOT_STATUS_POLL_INTERVAL")
    )
    job_timeout: float = Field(3600, gt=0, validation_alias=_env("PINBOT_JOB_TIMEOUT"))
    #: A job whose runner stopped renewing its lease this long ago is taken over.
    job_lease: float = Field(60, ge=1, le=3600, validation_alias=_env("PINBOT_JOB_LEASE"))
    #: How often files shared while pinbot was away are looked for (0: only at start).
    catchup_interval: float = Field(
        600, ge=0, validation_alias=_env("PINBOT_CATCHUP_INTERVAL")
    )
    #: Bytes per second a Slack download must average; below it the download is cut short.
    min_download_rate: float = Field(
        DEFAULT_MIN_DOWNLOAD_RATE, gt=0, allow_inf_nan=False,
        validation_alias=_env("PINBOT_MIN_DOWNLOAD_RATE"),
    )
    #: Seconds every download may take on top of size / rate (connection, redirects, start).
    download_allowance: float = Field(
        DEFAULT_DOWNLOAD_ALLOWANCE, gt=0, allow_inf_nan=False,
        validation_alias=_env("PINBOT_DOWNLOAD_ALLOWANCE"),
    )
    #: Workspace default for channels without `/pin retention` (None: pins are kept).
    retention: float | None = Field(None, validation_alias=_env("PINBOT_RETENTION"))
    #: Per-user quota in MB over a rolling 30 days (None: unlimited).
    quota_user_mb: float | None = Field(None, gt=0, validation_alias=_env("PINBOT_QUOTA_USER_MB"))
    #: How often one process in the deployment applies retention and audits the account.
    sweep_interval: float = Field(600, validation_alias=_env("PINBOT_SWEEP_INTERVAL"))


    @field_validator("encryption_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_keys(value.get_secret_value())
        return value

    #: `SLACK_SIGNING_SECRET=` (a blank line in .env or a Secret) is unset, not an empty secret
    #: that `pinbot check` called "set" and `serve` verified requests with.
    @field_validator("redis_url", "slack_app_token", "encryption_key", "slack_client_id",
                     "slack_client_secret", "slack_bot_token", "slack_signing_secret",
                     "w3ipfs_api_key", "w3ipfs_secret_key", "w3ipfs_gateway_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        """Parsed here, so a malformed URL is one line at start, not a traceback on first use."""
        try:
            make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError("must be a database URL like postgresql+asyncpg://user:password@"
                             "host/db or sqlite+aiosqlite:///pinbot.db") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        """arq accepts only these schemes (anything else was a RuntimeError on first use)."""
        if value is not None and not value.strip().startswith(
                ("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("w3ipfs_api_url", "w3ipfs_gateway_url", "slack_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value.startswith(("http://", "https://")) or len(value) < 10:
            raise ValueError("must be an http(s):// URL")
        return value

    @field_validator("w3ipfs_api_url", "w3ipfs_gateway_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value is not None else None

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator(
        "max_event_age", "status_poll_seconds", "status_poll_interval", "job_timeout",
        "progress_interval", "download_allowance", "job_lease", "catchup_interval",
        "sweep_interval", mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> Any:
        """Durations accept plain seconds or a unit: 90s, 15m, 24h, 1d (bot.units)."""
        if isinstance(value, str):
            return parse_duration(value)
        return value

    @field_validator("retention", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> Any:
        """`off` (or 0, or blank) keeps pins forever; otherwise a duration like 90d."""
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off")):
            return None
        seconds = parse_duration(value)
        if seconds == 0:  # `0` is off, as for PINBOT_QUOTA_USER_MB
            return None
        if seconds < 1:
            raise ValueError("must be off or a duration of at least 1s, like 90d")
        return seconds

    @field_validator("sweep_interval")
    @classmethod
    def _sweep_interval(cls, value: float) -> float:
        """A sweep more often than every second is a busy loop on the database, and asks the
        service about every pin each pass (none is "recently compared")."""
        if value < 1:
            raise ValueError("must be a duration of at least 1s, like 10m")
        return value

    @field_validator("quota_user_mb", mode="before")
    @classmethod
    def _quota(cls, value: Any) -> Any:
        """Megabytes (`500`), or a size with a unit (`2GB`); blank, 0 or `off`: unlimited."""
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off")):
            return None
        if isinstance(value, str):  # the environment's `0` is text: unlimited too
            size = parse_size(value, default_unit="mb", allow_zero=True)
            return None if size == 0 else size / 10**6
        return None if value == 0 else value

    @field_validator("min_download_rate", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> Any:
        return parse_rate(value) if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("download_hosts", "admin_users", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    @field_validator("download_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        hosts = [h.lower().strip(".") for h in value]
        if not hosts:
            raise ValueError("needs at least one host")
        return hosts

    @field_validator("auto_pin")
    @classmethod
    def _auto_pin(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in ("all", "off"):
            return value.lower()
        ids = [c.strip() for c in value.split(",") if c.strip()]
        if not ids or not all(c.isalnum() and c[:1].isalpha() for c in ids):
            raise ValueError("must be all, off, or a comma list of channel ids")
        return ",".join(c.upper() for c in ids)

    def auto_pins_in(self, channel_id: str | None) -> bool:
        """Whether a file shared in this channel is pinned automatically."""
        if self.auto_pin == "all":
            return True
        if self.auto_pin == "off" or not channel_id:
            return False
        return channel_id.upper() in self.auto_pin.split(",")

    @property
    def oauth(self) -> bool:
        """OAuth distribution: installed per workspace, tokens from the installation store."""
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def quota_user_bytes(self) -> int | None:
        return None if self.quota_user_mb is None else int(self.quota_user_mb * 10**6)

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024

    def require(self, *fields: str) -> None:
        """Fail with one clear line when a setting a command needs is unset.

        Settings are optional at load time because each command needs a different subset:
        the CLI needs only the pinning keys, `serve` needs the Slack ones too.
        """
        missing = [
            _ENV_NAMES[name] for name in fields if getattr(self, name) in (None, "")
        ]
        if missing:
            names = ", ".join(missing)
            verb = "is" if len(missing) == 1 else "are"
            raise ConfigError(f"{names} {verb} not set (environment or .env)")


_ENV_NAMES: dict[str, str] = {
    name: str(field.validation_alias.choices[0])  # type: ignore[union-attr]
    for name, field in Settings.model_fields.items()
}


def env_name(field: str) -> str:
    """The environment variable an attribute is read from (for messages and docs)."""
    return _ENV_NAMES[field]


def format_validation_error(exc: ValidationError) -> str:
    """One line naming each bad setting, without ever echoing the offending value."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = err.get("loc") or ("?",)
        key = str(loc[0])
        name = _ENV_NAMES.get(key, key.upper())
        msg = str(err.get("msg", "invalid value"))
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{name}: {msg}")
    return "invalid setting " + "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Read settings; raise `ConfigError` with a one-line message on any problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
