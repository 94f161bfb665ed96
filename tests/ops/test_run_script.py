"""scripts/run warns on stderr when a .env replaces its embedded defaults: one line naming the variables the settings
will take from the file (never their values), none when there is no .env or the environment already sets them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.conftest import REPO

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="the scripts need bash")

SECRET_URL = "postgres://vanguard:s3cr3t-never-printed@db.elsewhere.example:5432/vanguard"
DOTENV = f"""# a copy of .env.example, say
DJANGO_ENV=production
DATABASE_URL={SECRET_URL}
export REDIS_URL=redis://cache.elsewhere.example:6379/0
  INDENTED=ignored-by-django-environ
# SECRET_KEY=commented-out
SECRET_KEY=
DATABASE_URL=a-second-assignment
"""


def _clean_env(**extra: str) -> dict[str, str]:
    """A shell environment without this test run's settings (DATABASE_URL, DJANGO_ENV, ...)."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **extra}  # noqa: S108


def _overrides(tmp_path: Path, text: str, **env: str) -> list[str]:
    dotenv = tmp_path / ".env"
    dotenv.write_text(text)
    result = subprocess.run(  # noqa: S603
        [BASH, "-c", f'. "{REPO}/scripts/_dotenv.sh" && dotenv_overrides "$1"', "bash", str(dotenv)],
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.splitlines()


def test_the_check_names_each_variable_the_file_would_set_once_in_file_order(tmp_path):
    # when
    names = _overrides(tmp_path, DOTENV)
    # then: the lines django-environ reads (first column, optional `export`), not comments or indented lines
    assert names == ["DJANGO_ENV", "DATABASE_URL", "REDIS_URL", "SECRET_KEY"]


def test_a_variable_the_environment_already_sets_is_not_an_override(tmp_path):
    # when: the process environment wins over .env (read_env never overwrites)
    names = _overrides(tmp_path, DOTENV, DATABASE_URL="sqlite:///db.sqlite3", DJANGO_ENV="development")
    # then
    assert names == ["REDIS_URL", "SECRET_KEY"]


def test_no_file_no_names(tmp_path):
    result = subprocess.run(  # noqa: S603
        [BASH, "-c", f'. "{REPO}/scripts/_dotenv.sh" && dotenv_overrides "$1"', "bash", str(tmp_path / ".env")],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout == ""


def _script_copy(tmp_path: Path) -> Path:
    """scripts/run in a scratch checkout whose .venv/bin/python records its arguments and succeeds, so the script
    runs from start to end in a moment (the installs, migrate, seed and server are other tests' business)."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    for name in ("run", "_venv.sh", "_dotenv.sh"):
        shutil.copy2(REPO / "scripts" / name, root / "scripts" / name)
    (root / "requirements").mkdir()
    shutil.copy2(REPO / "requirements" / "base.txt", root / "requirements" / "base.txt")
    python = root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "python $*" >> "$(dirname "$0")/calls.log"\n')
    python.chmod(0o755)
    return root


def _run(root: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [BASH, str(root / "scripts" / "run")],
        cwd=root,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_scripts_run_warns_naming_the_variables_a_dotenv_overrides(tmp_path):
    # given: a stray .env pointing at another database and broker
    root = _script_copy(tmp_path)
    (root / ".env").write_text(DOTENV)
    # when
    result = _run(root)
    # then: one warning line on stderr, with the names and none of the values
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert "DATABASE_URL, REDIS_URL, SECRET_KEY" in warnings[0]
    assert "DJANGO_ENV" not in warnings[0]  # scripts/run sets it, so the file's value never applies
    assert "s3cr3t" not in result.stderr + result.stdout and "elsewhere" not in result.stderr + result.stdout
    assert "warning" not in result.stdout
    # ... and it went on to migrate and serve as before
    calls = (root / ".venv" / "bin" / "calls.log").read_text()
    assert "manage.py migrate --noinput" in calls and "manage.py runserver 127.0.0.1:8000" in calls


def test_scripts_run_says_nothing_without_a_dotenv_or_when_the_environment_decides(tmp_path):
    # given
    root = _script_copy(tmp_path)
    # when
    bare = _run(root)
    (root / ".env").write_text(f"DATABASE_URL={SECRET_URL}\n")
    decided = _run(root, DATABASE_URL="sqlite:///db.sqlite3")
    # then
    assert bare.returncode == 0 and decided.returncode == 0
    assert "warning" not in bare.stderr and "warning" not in decided.stderr
