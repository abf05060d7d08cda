"""Configuration: defaults, environment overrides, and start-up errors that name the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake import config as config_mod
from intake.config import ConfigError, load

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = """
[smtp]
from_address = "halsodata@region.test"
[store]
key_file = "store.key"
"""


def _write(tmp_path, text=MINIMAL):
    path = tmp_path / "halsodata.toml"
    path.write_text(text)
    return path


def test_example_file_documents_a_loadable_configuration():
    config = load(ROOT / "config.example.toml", environ={"HALSODATA_SMTP__FROM_ADDRESS": "hd@region.test"})
    assert config.imap.folder == "INBOX" and config.imap.security == "tls"
    assert config.cases.number_format == "HD-{year}-{seq:04}" and config.cases.language == "sv"


def test_example_file_lists_every_key_the_code_knows():
    text = (ROOT / "config.example.toml").read_text()
    for section, field in config_mod.Config.model_fields.items():
        if section == "source":
            continue
        assert f"[{section}]" in text
        model = field.default_factory().__class__ if field.default_factory else field.annotation
        for key in model.model_fields:
            assert f"\n{key} =" in text or f"# {key} =" in text, f"[{section}] {key} is not documented"


def test_defaults_and_relative_paths(tmp_path):
    config = load(_write(tmp_path), environ={})
    assert config.imap.processed_folder == "Processed"
    assert config.store.key_file == tmp_path / "store.key"
    assert config.store.files == tmp_path / "halsodata-files"
    assert config.store.url == f"sqlite:///{tmp_path / 'halsodata.db'}"


def test_environment_overrides_any_key_with_its_type(tmp_path):
    env = {"HALSODATA_IMAP__HOST": "imap.region.example", "HALSODATA_IMAP__PORT": "1993",
           "HALSODATA_CASES__COORDINATORS": '["a@region.example", "b@region.example"]',
           "HALSODATA_IMAP__PASSWORD": "12345", "HALSODATA_IMAP__USERNAME": "intake"}
    config = load(_write(tmp_path), environ=env)
    assert config.imap.host == "imap.region.example" and config.imap.port == 1993
    assert config.cases.coordinators == ["a@region.example", "b@region.example"]
    assert config.imap.secret("imap") == "12345"  # a numeric password stays text


@pytest.mark.parametrize("text, env, expected", [
    (MINIMAL + "[imap]\nprot = 993\n", {}, r"imap.prot: unknown key"),
    (MINIMAL + "[imap]\nport = \"abc\"\n", {}, r"imap.port: Input should be a valid integer"),
    (MINIMAL + "[imap]\nsecurity = \"ssl\"\n", {}, r"imap.security: Input should be 'tls', 'starttls' or 'none'"),
    (MINIMAL, {"HALSODATA_IMAP__PORT": "many"}, r"imap.port"),
    (MINIMAL, {"HALSODATA_IMAP__HOTS": "x"}, r"HALSODATA_IMAP__HOTS: \[imap\] has no key 'hots'"),
    (MINIMAL, {"HALSODATA_NOPE__X": "x"}, r"HALSODATA_NOPE__X: not a configuration key"),
    (MINIMAL + "[imap]\nusername = \"u\"\n", {}, r"imap: username is set but no password"),
    (MINIMAL + "[imap]\nusername = \"u\"\npassword = \"a\"\npassword_env = \"B\"\n", {}, r"set only one of"),
    ("[store]\nkey_file = \"k\"\n", {}, r"smtp: required but not set"),
    (MINIMAL.replace('key_file = "store.key"', ""), {}, r"store: .*halsodata keygen"),
    (MINIMAL + "[cases]\nnumber_format = \"HD-{yr}\"\n", {}, r"cases: number_format must use only"),
    (MINIMAL + "[cases\n", {}, r"not valid TOML"),
    (MINIMAL + "[limits]\nmail_timeout = 30\n", {}, r"limits: mail_timeout \(30 s\) must be at least read_timeout"),
])
def test_bad_configuration_fails_naming_the_key(tmp_path, text, env, expected):
    with pytest.raises(ConfigError, match=expected):
        load(_write(tmp_path, text), environ=env)


def test_config_path_precedence(tmp_path):
    assert config_mod.config_path("x.toml", {"HALSODATA_CONFIG": "y.toml"}) == Path("x.toml")
    assert config_mod.config_path(None, {"HALSODATA_CONFIG": "y.toml"}) == Path("y.toml")
    assert config_mod.config_path(None, {}) == Path("halsodata.toml")
    with pytest.raises(ConfigError, match="not found. Fix: copy config.example.toml"):
        load(tmp_path / "none.toml", environ={})


def test_password_sources_are_read_when_needed(tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    config = load(_write(tmp_path, MINIMAL + '[imap]\nusername = "u"\npassword_file = "pw"\n'), environ={})
    assert config.imap.secret("imap") == "s3cret"
    config = load(_write(tmp_path, MINIMAL + '[imap]\nusername = "u"\npassword_env = "IMAP_PW"\n'), environ={})
    with pytest.raises(ConfigError, match="IMAP_PW is not set"):
        config.imap.secret("imap")
    assert "s3cret" not in repr(load(_write(tmp_path, MINIMAL + '[imap]\nusername = "u"\npassword = "s3cret"\n'),
                                      environ={}))


def test_a_bad_value_from_the_environment_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"imap.port: .* \(set by HALSODATA_IMAP__PORT\)"):
        load(_write(tmp_path), environ={"HALSODATA_IMAP__PORT": "abc"})


def test_operator_variables_with_the_prefix_are_not_configuration_keys(tmp_path):
    """HALSODATA_STORE_KEY is the documented key_env example; it must not stop the program."""
    config = load(_write(tmp_path), environ={"HALSODATA_STORE_KEY": "x", "HALSODATA_TEST_PG": "y"})
    assert config.store.key_file is not None


def test_errors_never_echo_a_secret(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(_write(tmp_path, MINIMAL + "[imap]\nusername = \"u\"\npassword = 12345678\n"), environ={})
    assert "imap.password" in str(info.value) and "12345678" not in str(info.value)


def test_clear_text_to_a_remote_host_needs_an_explicit_setting(tmp_path):
    text = MINIMAL + '[smtp]\n'
    with pytest.raises(ConfigError, match=r"smtp: security = \"none\" sends the password in clear text"):
        load(_write(tmp_path, MINIMAL.replace('[smtp]\n', '[smtp]\nhost = "mail.region.example"\nsecurity = "none"\n')),
             environ={})
    config = load(_write(tmp_path, MINIMAL.replace(
        '[smtp]\n', '[smtp]\nhost = "mail.region.example"\nsecurity = "none"\nallow_plaintext = true\n')), environ={})
    assert config.smtp.allow_plaintext and text
