"""nox sessions. They run in the current environment (venv_backend="none"): torch is a
multi-GB install, so create one virtual environment as README says and reuse it."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The test suite (real data from ../shared/data where present)."""
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff, and the import rules: the layers, the families' independence, no cycles."""
    session.run("ruff", "check", ".")
    session.run("lint-imports")


@nox.session(venv_backend="none")
def regression(session: nox.Session) -> None:
    """Nine Table-1 configurations, small, compared with reports/regression/reference.json."""
    session.run("bench", "regress", *session.posargs)
