"""The wheel an operator installs: built with pip, installed into a fresh virtualenv, and working from there.

To stay fast and offline the fresh virtualenv borrows the dependencies from the project's own virtualenv
(one .pth line: its site-packages, without running the .pth files there, so the project's editable install
is not seen); halsodata itself comes only from the wheel, which the test checks.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What a wheel must carry besides the Python modules: the files read at run time.
DATA = ("outbox/templates/*.txt", "store/migrations/*.py", "store/migrations/*.mako",
        "store/migrations/versions/*.py", "intake/web/templates/*.html", "intake/web/static/*")
NOT_SOURCE = (".git", ".venv", ".demo", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache",
              "tests", "bench", "node_modules")


def _run(*args, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def test_the_wheel_installs_into_a_fresh_virtualenv_and_runs(tmp_path):
    # Built from a copy: building in place would leave build/ and egg-info changes in the working tree.
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    _run(sys.executable, "-m", "pip", "wheel", source, "--no-deps", "--quiet", "-w", tmp_path / "dist", cwd=tmp_path)
    [wheel] = (tmp_path / "dist").glob("halsodata_intake-*.whl")

    shipped = set(zipfile.ZipFile(wheel).namelist())
    needed = {str(p.relative_to(source)) for pattern in DATA for p in source.glob(pattern)
              if "__pycache__" not in p.parts}
    assert any(n.startswith("outbox/templates/") for n in needed) and any("versions/0001" in n for n in needed)
    assert needed <= shipped, f"missing from the wheel: {sorted(needed - shipped)}"

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel,
         cwd=tmp_path)
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path)
                .stdout.strip())
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    where = _run(python, "-c", "import intake, outbox, store; print(intake.__file__, outbox.__file__)", cwd=tmp_path)
    assert all(path.startswith(str(venv)) for path in where.stdout.split()), where.stdout

    halsodata = venv / "bin" / "halsodata"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert _run(halsodata, "--version", cwd=tmp_path).stdout.strip() == f"halsodata, version {version}"
    usage = _run(halsodata, "--help", cwd=tmp_path).stdout
    for command in ("run", "doctor", "db", "keygen", "cases", "mails", "outbox"):
        assert f"\n  {command} " in usage, usage

    # The migrations and their environment came with the wheel: a new database gets the schema.
    _run(halsodata, "keygen", "--out", tmp_path / "store.key", cwd=tmp_path)
    (tmp_path / "halsodata.toml").write_text('[smtp]\nfrom_address = "halsodata@region.test"\n'
                                             '[store]\nurl = "sqlite:///halsodata.db"\nkey_file = "store.key"\n')
    upgraded = _run(halsodata, "--config", tmp_path / "halsodata.toml", "db", "upgrade", cwd=tmp_path).stdout
    assert "upgraded from empty to" in upgraded
    assert "up to date" in _run(halsodata, "--config", tmp_path / "halsodata.toml", "db", "status", cwd=tmp_path).stdout


def test_the_systemd_unit_is_valid_hardened_and_its_environment_is_configuration(tmp_path):
    unit = (ROOT / "deploy" / "halsodata.service").read_text()
    settings = [line.split("=", 1) for line in unit.splitlines() if line and line[0] not in "#[" and "=" in line]
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                       ("CapabilityBoundingSet", ""), ("SystemCallFilter", "@system-service"),
                       ("Restart", "on-failure"), ("ReadWritePaths", "/var/lib/halsodata")):
        assert [key, value] in settings, f"{key}={value} missing"
    assert {k for k, _ in settings} >= {"RestrictAddressFamilies", "MemoryMax", "LoadCredential", "User"}
    if shutil.which("systemd-analyze"):
        result = subprocess.run(["systemd-analyze", "verify", str(ROOT / "deploy" / "halsodata.service")],
                                capture_output=True, text=True, timeout=60)
        complaints = [line for line in (result.stdout + result.stderr).splitlines()
                      if "/opt/halsodata/bin/halsodata is not executable" not in line]
        assert complaints == [], complaints

    # The unit points the configuration at the credentials systemd hands over: those must be real keys.
    environ = dict(value.replace("%d", "/run/credentials/halsodata.service").split("=", 1)
                   for key, value in settings if key == "Environment")
    (tmp_path / "halsodata.toml").write_text(
        '[imap]\nauth = "xoauth2"\nusername = "hd@region.example"\n'
        '[smtp]\nauth = "xoauth2"\nusername = "hd@region.example"\nfrom_address = "hd@region.example"\n'
        '[store]\nkey_file = "/etc/halsodata/credentials/store.key"\n'
        '[oauth]\ntenant_id = "t"\nclient_id = "c"\nclient_secret_file = "/etc/halsodata/credentials/x"\n')
    from intake.config import load
    config = load(tmp_path / "halsodata.toml", environ=environ)
    assert str(config.store.key_file) == "/run/credentials/halsodata.service/store.key"
    assert str(config.oauth.client_secret_file) == "/run/credentials/halsodata.service/oauth-client.secret"


def test_the_configuration_in_the_readme_operator_section_loads(tmp_path):
    import re

    from intake.config import load
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Operating it"):]
    [example] = re.findall(r"```toml\n(.*?)```", section, re.S)[:1]
    (tmp_path / "halsodata.toml").write_text(example)
    config = load(tmp_path / "halsodata.toml", environ={})
    assert config.imap.auth == config.smtp.auth == "xoauth2" and config.metrics.enabled
