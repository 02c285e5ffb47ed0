"""Run pytorch-ignite's own handler tests against torchsearch's handlers.

    python tests/ignite_compat/run.py               # download the installed Ignite's sdist, run the suites
    python tests/ignite_compat/run.py --sdist F.tar.gz   # use a source distribution already on disk
    python tests/ignite_compat/run.py --reference   # the same tests on Ignite's own handlers

The tests are not copied into this repository: the source distribution of the Ignite version
installed here (``pip download --no-deps --no-binary :all: pytorch-ignite==<version>``) ships
its ``tests/``; the three suites below (with Ignite's conftest files, which provide its
distributed fixtures) are extracted into a temporary folder and run by pytest with the plugin
``ts_ignite_shim`` (next to this file), which puts ``Patience``, ``TimeBudget`` and
``Divergence`` where the tests import ``EarlyStopping``, ``TimeLimit`` and ``TerminateOnNan``.
Every test that fails on purpose is listed in ``expected_failures.py`` with the documented
difference it protects; it runs as a strict xfail, so the run fails if any other test fails
or if a listed test passes. The exit status is pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITES = (
    "tests/ignite/handlers/test_early_stopping.py",
    "tests/ignite/handlers/test_time_limit.py",
    "tests/ignite/handlers/test_terminate_on_nan.py",
)
# what the suites import or collect besides themselves: Ignite's test packages and conftest files
SUPPORT = (
    "pyproject.toml",  # Ignite's pytest settings (markers, addopts)
    "tests/__init__.py",
    "tests/ignite/__init__.py",
    "tests/ignite/conftest.py",
    "tests/ignite/handlers/__init__.py",
    "tests/ignite/handlers/conftest.py",
)


def download(ignite_version: str, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
           f"pytorch-ignite=={ignite_version}", "-d", str(into)]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    found = sorted(into.glob("pytorch*ignite-*.tar.gz"))
    if len(found) != 1:
        raise SystemExit(f"ignite_compat: expected one pytorch-ignite sdist in {into}, found {found}")
    return found[0]


def extract(sdist: Path, into: Path) -> Path:
    """Extract the suites and their support files; return the folder that holds ``tests/``."""
    with tarfile.open(sdist) as tar:
        members = {m.name: m for m in tar.getmembers()}
        top = next(iter(members)).split("/", 1)[0]
        wanted = [f"{top}/{p}" for p in SUPPORT + SUITES]
        missing = [p for p in wanted if p not in members]
        if missing:
            raise SystemExit(f"ignite_compat: {sdist.name} lacks {missing}; the suites moved, update SUITES")
        tar.extractall(into, members=[members[p] for p in wanted], filter="data")
    return into / top


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", type=Path, help="a pytorch-ignite source distribution (default: download "
                        "the installed version's)")
    parser.add_argument("--reference", action="store_true", help="run the suites on Ignite's own handlers")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    import ignite  # (its __version__, as the tests will import it)

    ignite_version = ignite.__version__
    with tempfile.TemporaryDirectory(prefix="ignite_compat_") as tmp:
        sdist = args.sdist.resolve() if args.sdist else download(ignite_version, Path(tmp))
        if not sdist.name.startswith((f"pytorch-ignite-{ignite_version}.", f"pytorch_ignite-{ignite_version}.")):
            raise SystemExit(f"ignite_compat: {sdist.name} is not pytorch-ignite {ignite_version}, the version "
                             "installed here; its tests would test another Ignite")
        root = extract(sdist, Path(tmp))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
        env["TS_IGNITE_COMPAT"] = "reference" if args.reference else "torchsearch"
        cmd = [sys.executable, "-m", "pytest", "-p", "ts_ignite_shim", "-p", "no:cacheprovider",
               f"--rootdir={root}", "--color=no", "-q", "-rfEsxX",
               "-W", "ignore:`torch.jit:DeprecationWarning", *SUITES, *args.pytest_args]
        print(f"+ (in the {sdist.name} tests) {' '.join(cmd[1:])}", flush=True)
        return subprocess.run(cmd, cwd=root, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
