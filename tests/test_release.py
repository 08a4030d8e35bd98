"""A release a user can install: the wheel and sdist build, pass ``twine check``, and
the wheel works in a fresh virtual environment, with no extra and with all of them.

Nothing of the repository is on ``sys.path`` there: the commands run from a
temporary folder with the venv's own interpreter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import appmux

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = "serve,asgi,postgres,metrics"
#: Every public name, by module, that the wheel must import without any extra.
CORE_MODULES = ("appmux", "appmux.registry", "appmux.asgi", "appmux.interop")

IMPORT_ALL = """
import importlib, sys
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    assert module.__file__ and "site-packages" in module.__file__, module.__file__
    for public in module.__all__:
        getattr(module, public)
    print(name, len(module.__all__))
"""


def run(*command: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and sdist of this checkout, built as a release is."""
    out = tmp_path_factory.mktemp("dist")
    built = run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=out)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


def venv(where: Path) -> Path:
    made = run(sys.executable, "-m", "venv", where, cwd=where.parent)
    assert made.returncode == 0, made.stderr
    return where / "bin"


def test_the_wheel_and_sdist_pass_twine_check_with_one_version(dist: Path) -> None:
    wheels = list(dist.glob("*.whl"))
    sdists = list(dist.glob("*.tar.gz"))
    assert [w.name for w in wheels] == [f"appmux-{appmux.__version__}-py3-none-any.whl"]
    assert [s.name for s in sdists] == [f"appmux-{appmux.__version__}.tar.gz"]
    checked = run(sys.executable, "-m", "twine", "check", "--strict", *wheels, *sdists, cwd=dist)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2


def test_the_wheel_alone_imports_every_public_name(dist: Path, tmp_path: Path) -> None:
    bin_dir = venv(tmp_path / "bare")
    (wheel,) = dist.glob("*.whl")
    installed = run(bin_dir / "pip", "install", "-q", wheel, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    imported = run(bin_dir / "python", "-c", IMPORT_ALL, *CORE_MODULES, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    listed = run(bin_dir / "pip", "list", "--format=freeze", cwd=tmp_path).stdout.lower()
    assert "werkzeug" in listed and "click" not in listed and "gunicorn" not in listed
    # The command needs the serve extra, and says so in one line.
    command = run(bin_dir / "appmux", "--version", cwd=tmp_path)
    assert command.returncode == 1
    assert command.stderr.strip() == (
        "appmux: the command line needs the serve extra: pip install 'appmux[serve]'"
    )


def test_the_wheel_with_every_extra_serves_the_demo_config(dist: Path, tmp_path: Path) -> None:
    bin_dir = venv(tmp_path / "full")
    (wheel,) = dist.glob("*.whl")
    installed = run(
        bin_dir / "pip",
        "install",
        "-q",
        f"{wheel}[{EXTRAS}]",
        "flask",
        "django",
        "fastapi",
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stderr
    modules = (*CORE_MODULES, "appmux.cli", "appmux.observe", "appmux.serve.site")
    imported = run(bin_dir / "python", "-c", IMPORT_ALL, *modules, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    version = run(bin_dir / "appmux", "--version", cwd=tmp_path)
    assert version.returncode == 0 and appmux.__version__ in version.stdout
    demo = tmp_path / "demo"
    shutil.copytree(ROOT / "examples", demo, ignore=shutil.ignore_patterns("tenants.db*"))
    seeded = run(bin_dir / "python", "seed_tenants.py", cwd=demo)
    assert seeded.returncode == 0, seeded.stderr
    checked = run(bin_dir / "appmux", "check", "appmux.toml", cwd=demo)
    assert checked.returncode == 0, checked.stderr
    assert "appmux.toml: OK" in checked.stdout
