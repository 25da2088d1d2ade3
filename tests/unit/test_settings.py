"""Settings: exact public names, friendly one-line errors, secrets never shown."""

from __future__ import annotations

import pytest

from bot.settings import ConfigError, Settings, env_name, load_settings, parse_rate

pytestmark = pytest.mark.usefixtures("clean_env")


def test_defaults() -> None:
    s = load_settings()
    assert s.w3ipfs_api_url == "https://api.w3ipfs.aioz.network/api"
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.max_file_mb == 1024 and s.max_file_bytes == 1024 * 1024 * 1024
    assert (s.host, s.port) == ("0.0.0.0", 3000)
    assert s.slack_app_token is None


def test_public_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "W3IPFS_API_URL": "http://127.0.0.1:9/api/",
        "W3IPFS_API_KEY": "k",
        "W3IPFS_SECRET_KEY": "s",
        "W3IPFS_GATEWAY_URL": "https://gw.example",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "sig",
        "SLACK_APP_TOKEN": "xapp-1",
        "SLACK_API_URL": "http://127.0.0.1:9/api",
        "PINBOT_DATABASE_URL": "postgresql+asyncpg://localhost/test",
        "PINBOT_REDIS_URL": "redis://127.0.0.1:6379/0",
        "PINBOT_MAX_FILE_MB": "10",
        "PINBOT_CONCURRENCY": "8",
        "PINBOT_HOST": "127.0.0.1",
        "PINBOT_PORT": "8080",
        "PINBOT_DOWNLOAD_HOSTS": "127.0.0.1, files.slack.com",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = load_settings()
    assert s.w3ipfs_api_url == "http://127.0.0.1:9/api"
    assert s.w3ipfs_api_key is not None and s.w3ipfs_api_key.get_secret_value() == "k"
    assert s.slack_api_url == "http://127.0.0.1:9/api/"
    assert s.database_url.startswith("postgresql+asyncpg://")
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert (s.max_file_mb, s.concurrency, s.host, s.port) == (10, 8, "127.0.0.1", 8080)
    assert s.download_hosts == ["127.0.0.1", "files.slack.com"]
    assert env_name("max_file_mb") == "PINBOT_MAX_FILE_MB"


def test_dotenv_is_read(tmp_path: object) -> None:
    with open(".env", "w") as fh:
        fh.write("W3IPFS_API_KEY=from-dotenv\nPINBOT_PORT=4000\n")
    s = load_settings()
    assert s.w3ipfs_api_key is not None
    assert s.w3ipfs_api_key.get_secret_value() == "from-dotenv"
    assert s.port == 4000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PINBOT_PORT", "not-a-port"),
        ("PINBOT_PORT", "70000"),
        ("PINBOT_MAX_FILE_MB", "-1"),
        ("PINBOT_CONCURRENCY", "0"),
        ("W3IPFS_API_URL", "ftp://nope"),
    ],
)
def test_malformed_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert name in message
    assert "\n" not in message
    assert value not in message  # never echo what was given (it may be a pasted secret)


def test_missing_required_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("W3IPFS_API_KEY", "k")
    s = load_settings()
    with pytest.raises(ConfigError, match=r"^W3IPFS_SECRET_KEY is not set"):
        s.require("w3ipfs_api_key", "w3ipfs_secret_key")
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET are not set"):
        s.require("slack_bot_token", "slack_signing_secret")


def test_secrets_are_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("W3IPFS_SECRET_KEY", "super-secret-value")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-token")
    s = Settings()
    text = repr(s) + str(s) + s.model_dump_json()
    assert "super-secret-value" not in text
    assert "xoxb-secret-token" not in text


@pytest.mark.parametrize(("text", "rate"), [
    ("64KiB/s", 65536), ("1MiB/s", 1048576), ("500KB/s", 500000), ("2 GB/s", 2e9),
    ("64kib/s", 65536), ("1.5MiB", 1.5 * 1048576), ("65536", 65536), ("100 B/s", 100),
    (" 8 KiB / s ", 8192),
])
def test_parse_rate(text: str, rate: float) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", [
    "", "fast", "-1KiB/s", "1e3", "inf", "nan", "64KiB/h", "64 KiB junk", "64Kbit/s", "KiB/s",
    "64KiB/s/s", "0x40",
])
def test_parse_rate_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="like 64KiB/s"):
        parse_rate(text)


def test_download_deadline_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert (s.min_download_rate, s.download_allowance) == (64 * 1024, 30.0)
    assert env_name("min_download_rate") == "PINBOT_MIN_DOWNLOAD_RATE"
    assert env_name("download_allowance") == "PINBOT_DOWNLOAD_ALLOWANCE"
    monkeypatch.setenv("PINBOT_MIN_DOWNLOAD_RATE", "1MiB/s")
    monkeypatch.setenv("PINBOT_DOWNLOAD_ALLOWANCE", "2m")
    s = load_settings()
    assert (s.min_download_rate, s.download_allowance) == (1048576, 120.0)


@pytest.mark.parametrize(("name", "value"), [
    ("PINBOT_MIN_DOWNLOAD_RATE", "0"), ("PINBOT_MIN_DOWNLOAD_RATE", "0KiB/s"),
    ("PINBOT_MIN_DOWNLOAD_RATE", "quick"), ("PINBOT_MIN_DOWNLOAD_RATE", "inf"),
    ("PINBOT_DOWNLOAD_ALLOWANCE", "0"), ("PINBOT_DOWNLOAD_ALLOWANCE", "-5s"),
    ("PINBOT_DOWNLOAD_ALLOWANCE", "infs"), ("PINBOT_DOWNLOAD_ALLOWANCE", "nan"),
])
def test_bad_download_deadline_settings_stop_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(f"invalid setting {name}: ") and "\n" not in message
    assert f"'{value}'" not in message


def test_database_and_redis_passwords_stay_out_of_repr() -> None:
    s = load_settings(database_url="postgresql+asyncpg://pinbot:db-pass-7731@db/pinbot",
                      redis_url="redis://:redis-pass-4410@cache:6379/0")
    shown = repr(s) + str(s)
    assert "db-pass-7731" not in shown and "redis-pass-4410" not in shown


@pytest.mark.parametrize("value", ["0", "0.0", "0MB", " 0 ", "off", "OFF", ""])
def test_quota_user_mb_zero_or_off_is_unlimited(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """README: `PINBOT_QUOTA_USER_MB` unset, `0` or `off` is unlimited. An environment
    variable is always text, so `0` arrives as the string "0" (was: refused at start-up)."""
    monkeypatch.setenv("PINBOT_QUOTA_USER_MB", value)
    assert load_settings().quota_user_bytes is None


@pytest.mark.parametrize("value", ["-1", "lots", "1e12TB"])
def test_bad_quota_user_mb_stops_start(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PINBOT_QUOTA_USER_MB", value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "PINBOT_QUOTA_USER_MB" in str(info.value) and value not in str(info.value)


@pytest.mark.parametrize("value", ["0", "0s", "0d", " 0 ", "off", "Off", ""])
def test_retention_zero_or_off_keeps_pins(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """`PINBOT_RETENTION=0` is off, as for `PINBOT_QUOTA_USER_MB` (and as the setting's
    validator says); it stopped start-up with 'must be off or a duration of at least 1s'."""
    monkeypatch.setenv("PINBOT_RETENTION", value)
    assert load_settings().retention is None


@pytest.mark.parametrize("value", ["0", "0s", "0.5", "0.001", "0.0000001"])
def test_sweep_interval_below_a_second_stops_start(monkeypatch: pytest.MonkeyPatch,
                                                   value: str) -> None:
    """A sweep every millisecond is a busy loop on the database (and asks the service about
    every pin each pass): at least 1s, in one line that does not repeat the value."""
    monkeypatch.setenv("PINBOT_SWEEP_INTERVAL", value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith("invalid setting PINBOT_SWEEP_INTERVAL: ")
    assert f"'{value}'" not in message and (len(value) < 3 or value not in message)
    assert "at least 1s" in message and "\n" not in message
    monkeypatch.setenv("PINBOT_SWEEP_INTERVAL", "1")
    assert load_settings().sweep_interval == 1
