"""Settings: environment parsing, defaults, validation, and the operator docs kept in step."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from hub.settings import Settings, SettingsError, documented_settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
SDK_VARIABLES = (
    "PLUGIN_ID",
    "PLUGIN_SECRET",
    "HUB_URL",
    "PLUGIN_RECONNECT_MAX_DELAY",
    "PLUGIN_HEALTH_PORT",
    "PLUGIN_HEALTH_HOST",
)

FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
ENV = {name: f.metadata["env"] for name, f in FIELDS.items()}

# Values for the string settings, which each have their own grammar.
STRING_SAMPLES = {
    "database_url": "postgresql+asyncpg://hub:pw@db.internal:5432/hub",
    "storage_url": "s3://hub-blobs/prod",
    "sqlite_synchronous": "FULL",
    "secret_key": "a-shared-signing-key-for-every-hub",
    "log_level": "DEBUG",
    "node_address": "10.0.0.7:8000",
}


def sample(name: str) -> tuple[str, Any]:
    """(environment value, parsed value) for the setting `name`, different from its default."""
    default = FIELDS[name].default
    if isinstance(default, Path):
        return "/srv/plugin-hub", Path("/srv/plugin-hub")
    if isinstance(default, bool):  # pragma: no cover - no boolean settings yet
        raise AssertionError(f"add a boolean sample for {name}")
    if isinstance(default, int):
        return str(default * 2 + 1), default * 2 + 1
    if isinstance(default, float):
        value = default * 2 + 0.25
        return repr(value), value
    assert name in STRING_SAMPLES, f"add a sample value for the new setting {name!r} here"
    return STRING_SAMPLES[name], STRING_SAMPLES[name]


NUMERIC = [name for name, f in FIELDS.items() if type(f.default) in (int, float)]
INTEGER = [name for name, f in FIELDS.items() if type(f.default) is int]


# --- parsing ---------------------------------------------------------------------------


def test_from_env_parses_every_variable() -> None:
    environ = {ENV[name]: sample(name)[0] for name in FIELDS}
    settings = Settings.from_env(environ)
    for name in FIELDS:
        expected = sample(name)[1]
        value = getattr(settings, name)
        assert value == expected, name
        assert type(value) is type(FIELDS[name].default), name


def test_from_env_parses_the_documented_examples() -> None:
    settings = Settings.from_env(
        {
            "HUB_DATA_DIR": "/data/hub",
            "HUB_HEARTBEAT_INTERVAL": "2.5",
            "HUB_HEARTBEAT_TIMEOUT_FACTOR": "3",
            "HUB_MAX_MESSAGE_SIZE": "65536",
            "HUB_SQLITE_SYNCHRONOUS": "full",
        }
    )
    assert settings.data_dir == Path("/data/hub")
    assert settings.heartbeat_interval == 2.5
    assert settings.heartbeat_timeout == 7.5
    assert settings.max_message_size == 65536
    assert isinstance(settings.max_message_size, int)
    assert settings.sqlite_synchronous.upper() == "FULL"  # case does not matter
    assert settings.resolved_database_url == "sqlite+aiosqlite:////data/hub/hub.db"


def test_without_variables_every_default_applies() -> None:
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize("name", list(FIELDS))
def test_an_empty_variable_means_the_default(name: str) -> None:
    settings = Settings.from_env({ENV[name]: ""})
    assert getattr(settings, name) == FIELDS[name].default


def test_all_empty_variables_mean_all_defaults() -> None:
    assert Settings.from_env({env: "" for env in ENV.values()}) == Settings()


def test_from_env_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ENV.values():
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv("HUB_HEARTBEAT_INTERVAL", "7")
    monkeypatch.setenv("HUB_LOG_LEVEL", "WARNING")
    settings = Settings.from_env()
    assert settings.heartbeat_interval == 7.0
    assert settings.log_level == "WARNING"


def test_an_explicit_environ_ignores_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_HEARTBEAT_INTERVAL", "7")
    assert Settings.from_env({}).heartbeat_interval == Settings().heartbeat_interval


def test_unrelated_variables_are_ignored() -> None:
    assert Settings.from_env({"HUB_NO_SUCH_SETTING": "x", "PATH": "/bin"}) == Settings()


def test_overrides_win_over_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"HUB_HEARTBEAT_INTERVAL": "7", "HUB_DATA_DIR": "/elsewhere"},
        heartbeat_interval=0.5,
        data_dir=tmp_path,
    )
    assert settings.heartbeat_interval == 0.5
    assert settings.data_dir == tmp_path


def test_derived_values() -> None:
    settings = Settings(data_dir=Path("/srv/hub"), heartbeat_interval=4, heartbeat_timeout_factor=3)
    assert settings.heartbeat_timeout == 12
    assert settings.resolved_database_url == "sqlite+aiosqlite:////srv/hub/hub.db"
    explicit = Settings(database_url="postgresql+asyncpg://u:p@db/hub")
    assert explicit.resolved_database_url == "postgresql+asyncpg://u:p@db/hub"
    relative = Settings()
    assert relative.resolved_database_url == "sqlite+aiosqlite:///var/hub.db"


# --- bad values ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("raw", ["abc", "5s", "1,5", "   ", "0x10"])
def test_a_bad_number_names_the_variable(name: str, raw: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({ENV[name]: raw})
    assert ENV[name] in str(raised.value)
    assert repr(raw) in str(raised.value)


@pytest.mark.parametrize("name", INTEGER)
@pytest.mark.parametrize("raw", ["1.5", "1e6", "2048.0"])
def test_an_integer_setting_refuses_a_fraction(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=ENV[name]):
        Settings.from_env({ENV[name]: raw})


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


@pytest.mark.parametrize(
    ("environ", "mentions"),
    [
        pytest.param({"HUB_HEARTBEAT_INTERVAL": "0"}, "heartbeat_interval", id="interval-zero"),
        pytest.param({"HUB_HEARTBEAT_INTERVAL": "-1"}, "heartbeat_interval", id="interval-neg"),
        pytest.param({"HUB_LEASE_TTL": "0"}, "lease_ttl", id="lease-zero"),
        pytest.param({"HUB_HELLO_TIMEOUT": "-0.5"}, "hello_timeout", id="hello-negative"),
        pytest.param({"HUB_ACCEPT_TIMEOUT": "0"}, "accept_timeout", id="accept-zero"),
        pytest.param({"HUB_RETRY_DELAY": "0"}, "retry_delay", id="retry-zero"),
        pytest.param({"HUB_MAX_ATTEMPTS": "0"}, "max_attempts", id="attempts-zero"),
        pytest.param({"HUB_CANCEL_GRACE": "-1"}, "cancel_grace", id="grace-negative"),
        pytest.param(
            {"HUB_HEARTBEAT_TIMEOUT_FACTOR": "1"}, "heartbeat_timeout_factor", id="factor-one"
        ),
        pytest.param(
            {"HUB_HEARTBEAT_TIMEOUT_FACTOR": "0.5"}, "heartbeat_timeout_factor", id="factor-low"
        ),
        pytest.param({"HUB_MAX_MESSAGE_SIZE": "1023"}, "max_message_size", id="size-small"),
        pytest.param({"HUB_MAX_BODY_SIZE": "1023"}, "max_body_size", id="body-small"),
        pytest.param({"HUB_HEADER_TIMEOUT": "0"}, "header_timeout", id="header-timeout-zero"),
        pytest.param({"HUB_MAX_CONNECTIONS": "-1"}, "max_connections", id="connections-neg"),
        pytest.param(
            {"HUB_SQLITE_SYNCHRONOUS": "SOMETIMES"}, "SYNCHRONOUS", id="synchronous-unknown"
        ),
        pytest.param(
            {"HUB_SQLITE_SYNCHRONOUS": "NORMAL; DROP TABLE plugins"},
            "SYNCHRONOUS",
            id="synchronous-injection",
        ),
    ],
)
def test_invalid_values_are_refused(environ: dict[str, str], mentions: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(environ)
    # The message names the variable the operator set, not an internal field name.
    (variable,) = environ
    assert variable in str(raised.value)
    assert mentions.upper() in str(raised.value).upper() or mentions in variable.lower()


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"heartbeat_interval": 0}, id="interval"),
        pytest.param({"heartbeat_timeout_factor": 1.0}, id="factor"),
        pytest.param({"max_message_size": 100}, id="size"),
        pytest.param({"sqlite_synchronous": "sometimes"}, id="synchronous"),
    ],
)
def test_invalid_values_are_refused_by_the_constructor_too(values: dict[str, Any]) -> None:
    with pytest.raises(SettingsError):
        Settings(**values)


@pytest.mark.parametrize("level", ["OFF", "normal", "Full", "EXTRA"])
def test_every_sqlite_synchronous_level_is_accepted(level: str) -> None:
    assert Settings.from_env({"HUB_SQLITE_SYNCHRONOUS": level}).sqlite_synchronous == level


def test_boundaries_that_are_allowed() -> None:
    settings = Settings.from_env(
        {
            "HUB_MAX_MESSAGE_SIZE": "1024",
            "HUB_HEARTBEAT_TIMEOUT_FACTOR": "1.01",
            "HUB_MAX_ATTEMPTS": "1",
            "HUB_CANCEL_GRACE": "0",
        }
    )
    assert settings.max_message_size == 1024
    assert settings.max_attempts == 1
    assert settings.cancel_grace == 0


def test_settings_are_immutable() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.heartbeat_interval = 1.0  # type: ignore[misc]


# --- documentation -----------------------------------------------------------------------


def test_documented_settings_cover_every_field() -> None:
    documented = documented_settings()
    assert [env for env, _, _ in documented] == list(ENV.values())
    assert len(set(ENV.values())) == len(ENV)
    for env, default, meaning in documented:
        assert env.startswith("HUB_")
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", env)
        assert meaning.strip(), env
        field = next(f for f in FIELDS.values() if f.metadata["env"] == env)
        assert default == str(field.default)


def docs_text() -> str:
    assert DOCS.is_file(), f"{DOCS} is missing"
    return DOCS.read_text(encoding="utf-8")


@pytest.mark.parametrize(("env", "default", "meaning"), documented_settings())
def test_docs_list_every_setting_with_its_default(env: str, default: str, meaning: str) -> None:
    rows = [line for line in docs_text().splitlines() if f"`{env}`" in line]
    assert rows, f"docs/configuration.md does not mention {env}"
    table_rows = [row for row in rows if row.lstrip().startswith("|")]
    assert table_rows, f"{env} is not in a table row of docs/configuration.md"
    if default:
        assert any(default in row for row in table_rows), f"{env}: default {default} not shown"


@pytest.mark.parametrize("env", SDK_VARIABLES)
def test_docs_list_the_sdk_variables(env: str) -> None:
    assert f"`{env}`" in docs_text()


def test_docs_explain_sqlite_synchronous_and_database_urls() -> None:
    text = docs_text()
    assert "synchronous" in text
    assert "kill -9" in text
    assert "sqlite+aiosqlite:///" in text
    assert "postgresql+asyncpg://" in text


# --- regressions: bugs found by review, now fixed ---


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"HUB_HEARTBEAT_INTERVAL": "nan"}, id="interval-nan"),
        pytest.param({"HUB_HEARTBEAT_INTERVAL": "inf"}, id="interval-inf"),
        pytest.param({"HUB_LEASE_TTL": "infinity"}, id="lease-inf"),
        pytest.param({"HUB_HEARTBEAT_TIMEOUT_FACTOR": "nan"}, id="factor-nan"),
        pytest.param({"HUB_CANCEL_GRACE": "nan"}, id="grace-nan"),
        pytest.param({"HUB_HEADER_TIMEOUT": "inf"}, id="header-timeout-inf"),
    ],
)
def test_non_finite_numbers_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(environ)


def test_an_unknown_log_level_is_refused() -> None:
    with pytest.raises(SettingsError, match="HUB_LOG_LEVEL"):
        Settings.from_env({"HUB_LOG_LEVEL": "chatty"})


def test_a_lease_shorter_than_the_heartbeat_interval_is_refused() -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({"HUB_HEARTBEAT_INTERVAL": "10", "HUB_LEASE_TTL": "5"})


def test_a_bad_url_setting_does_not_echo_its_credentials() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"HUB_STORAGE_URL": "s3://AKIAEXAMPLE:topsecret@bucket:99/x?y=1"})
    assert "HUB_STORAGE_URL" in str(raised.value)
    assert "topsecret" not in str(raised.value)
