"""The lock (requirements/base.txt, requirements/dev.txt) agrees with pyproject.toml: every requirement is pinned with
its hashes at a version pyproject allows, each file is exactly the dependency closure of what it locks (nothing
missing, nothing left over), the two files agree on every package they share, pip-compile reproduces the same pins,
and every install path (scripts/run, scripts/test, so CI, and the Dockerfile) installs from it with --require-hashes.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.ops.conftest import REPO, VENV_BIN

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
BASE_LOCK = REPO / "requirements" / "base.txt"
DEV_LOCK = REPO / "requirements" / "dev.txt"

PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[(?P<extras>[^\]]*)\])?==(?P<version>\S+)")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def read_lock(path: Path) -> dict[str, tuple[Version, list[str]]]:
    """name -> (version, sha256 hashes) of a pip-compile output file."""
    entries: dict[str, tuple[Version, list[str]]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            match = PIN.match(line)
            assert match, f"{path.name}: not a name[extras]==version pin: {line!r}"
            current = canonicalize_name(match["name"])
            assert current not in entries, f"{path.name}: {current} pinned twice"
            entries[current] = (Version(match["version"]), [])
        assert current is not None, f"{path.name}: a hash before any pin: {line!r}"
        entries[current][1].extend(HASH.findall(line))
    return entries


def read_extras(path: Path) -> dict[str, frozenset[str]]:
    """name -> the extras its pin names (`psycopg[binary,pool]==3.3.9`)."""
    extras: dict[str, frozenset[str]] = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            names = (match["extras"] or "").split(",")
            extras[canonicalize_name(match["name"])] = frozenset(n.strip() for n in names if n.strip())
    return extras


def roots(*, dev: bool) -> list[Requirement]:
    requirements = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["build-system"]["requires"]]
    if dev:
        requirements += PYPROJECT["project"]["optional-dependencies"]["dev"]
    return [Requirement(text) for text in requirements]


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    marker: Marker | None = requirement.marker
    if marker is None:
        return True
    return any(marker.evaluate({"extra": extra}) for extra in extras | {""})


def closure(
    lock: dict[str, tuple[Version, list[str]]], start: list[Requirement], extras: dict[str, frozenset[str]]
) -> tuple[set[str], list[str]]:
    """The packages `start` needs, walking each locked package's own requirements (from its installed metadata:
    scripts/test installs the dev lock, so the installed version is the locked one), and every requirement the
    locked versions do not satisfy, or whose extras the pin does not name (pip 23.2 under --require-hashes then
    calls `pkg[extra]>=x` unpinned and resolves it to the newest release: CI broke so when coverage 7.18 came out)."""
    needed: set[str] = set()
    unsatisfied: list[str] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    stack: list[tuple[Requirement, str]] = [(requirement, "pyproject.toml") for requirement in start]
    while stack:
        requirement, wanted_by = stack.pop()
        if not _applies(requirement, frozenset()):
            continue
        name = canonicalize_name(requirement.name)
        if name not in lock:
            unsatisfied.append(f"{requirement} (wanted by {wanted_by}) is not in the lock")
            continue
        version = lock[name][0]
        if not requirement.specifier.contains(version, prereleases=True):
            unsatisfied.append(f"{requirement} (wanted by {wanted_by}) but the lock has {name}=={version}")
        if not set(requirement.extras) <= extras[name]:
            unsatisfied.append(f"{requirement} (wanted by {wanted_by}) but the lock pins {name} without those extras")
        needed.add(name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        distribution = importlib.metadata.distribution(name)
        assert Version(distribution.version) == version, (
            f"the environment has {name}=={distribution.version}, the lock {version}: install the lock "
            "(scripts/test does)"
        )
        for text in distribution.requires or []:
            child = Requirement(text)
            if _applies(child, frozenset(requirement.extras)):
                child.marker = None  # evaluated for this parent's extras; the child's own extras apply below
                stack.append((child, f"{name}=={version}"))
    return needed, unsatisfied


@pytest.mark.parametrize(("lock_path", "dev"), [(BASE_LOCK, False), (DEV_LOCK, True)], ids=["base", "dev"])
def test_every_pyproject_requirement_is_pinned_with_hashes_at_an_allowed_version(lock_path, dev):
    # given
    lock = read_lock(lock_path)
    # then: each direct requirement is there, pinned at a version its specifier allows, with at least one hash
    for requirement in roots(dev=dev):
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{requirement} is not in {lock_path.name}: run scripts/lock"
        version, hashes = lock[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock_path.name} pins {name}=={version}, pyproject.toml asks for {requirement}: run scripts/lock"
        )
        assert hashes, f"{name} has no hash in {lock_path.name}"
    # ... and so does every other entry: --require-hashes refuses a file with one pin without a hash
    assert all(hashes for _, hashes in lock.values()), "every locked package needs its hashes"


@pytest.mark.parametrize(("lock_path", "dev"), [(BASE_LOCK, False), (DEV_LOCK, True)], ids=["base", "dev"])
def test_each_lock_is_exactly_the_dependency_closure_of_pyproject(lock_path, dev):
    # given
    lock = read_lock(lock_path)
    # when
    needed, unsatisfied = closure(lock, roots(dev=dev), read_extras(lock_path))
    # then: nothing missing or too old/new, and nothing left over (a dependency pyproject.toml no longer needs)
    assert unsatisfied == []
    assert set(lock) - needed == set(), f"{lock_path.name} pins packages nothing needs: run scripts/lock"


def test_the_runtime_lock_pins_what_the_dev_lock_pins():
    # given
    base, dev = read_lock(BASE_LOCK), read_lock(DEV_LOCK)
    # then: the runtime is the same set of files with or without the dev extras
    assert set(base) <= set(dev)
    assert {name: base[name][0] for name in base} == {name: dev[name][0] for name in base}
    assert {name: set(base[name][1]) for name in base} == {name: set(dev[name][1]) for name in base}
    base_extras, dev_extras = read_extras(BASE_LOCK), read_extras(DEV_LOCK)
    assert all(base_extras[name] <= dev_extras[name] for name in base)


def test_every_install_path_installs_the_lock_with_hashes():
    # given
    venv = (REPO / "scripts" / "_venv.sh").read_text()
    run, test = (REPO / "scripts" / "run").read_text(), (REPO / "scripts" / "test").read_text()
    dockerfile = (REPO / "Dockerfile").read_text()
    # then: the README's two commands install a lock (scripts/test is what .ci/run calls) ...
    assert re.search(r"^ensure_venv base$", run, re.MULTILINE)
    assert re.search(r"^ensure_venv dev$", test, re.MULTILINE)
    assert 'pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"' in venv
    # ... and the project itself adds no unlocked package: no dependencies, no isolated build environment
    assert "--no-deps --no-build-isolation -e ." in venv
    assert "pip install --require-hashes -r requirements/base.txt" in dockerfile
    assert "ensure_venv dev" in (REPO / "scripts" / "lock").read_text()


def test_pip_compile_reproduces_the_lock(tmp_path):
    """What scripts/lock would write today: the same name==version pairs (the hashes of a release can grow when its
    project uploads another wheel, so they are not compared). Needs the package index."""
    pip_compile = VENV_BIN / "pip-compile"
    if not pip_compile.exists():
        if os.environ.get("CI"):
            pytest.fail("pip-compile is missing: install the dev lock (scripts/test does)")
        pytest.skip("pip-compile is not installed (pip-tools is a dev extra)")
    # given: the same command as scripts/lock, writing to copies of the lock files
    script = (REPO / "scripts" / "lock").read_text()
    assert "PIP_CONFIG_FILE=/dev/null" in script and "--extra dev --output-file requirements/dev.txt" in script
    local = {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_NO_INDEX"}
    env = {k: v for k, v in os.environ.items() if k not in local}
    env.update({"PIP_CONFIG_FILE": os.devnull, "CUSTOM_COMPILE_COMMAND": "scripts/lock"})
    results = {}
    for lock_path, extra in ((DEV_LOCK, ["--extra", "dev"]), (BASE_LOCK, [])):
        output = tmp_path / lock_path.name
        shutil.copy(lock_path, output)
        # when
        done = subprocess.run(  # noqa: S603
            [str(pip_compile), "--quiet", *extra, "--output-file", str(output), "pyproject.toml"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results[lock_path.name] = output
    # then
    for lock_path in (DEV_LOCK, BASE_LOCK):
        committed = {name: version for name, (version, _) in read_lock(lock_path).items()}
        compiled = {name: version for name, (version, _) in read_lock(results[lock_path.name]).items()}
        assert compiled == committed, f"{lock_path.name} is not what scripts/lock writes: run scripts/lock"
