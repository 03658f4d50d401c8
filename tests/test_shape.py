"""The shape of the code (DESIGN.md "Shape"): which package may import which."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = {"bot", "domain", "liff", "console", "me", "web", "models", "line_simulator"}
FACES = {"liff", "console", "me"}  # faces mounted by bot/app.py, the composition root


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (top level or inside functions), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # `from aiohttp import web` names a module too
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def forbidden(package: str, relative: str, module: str) -> str | None:
    """Why `package` (file `relative`) may not import `module`, or None when it may."""
    top = module.split(".")[0]
    if top == package:
        return None
    if package == "domain":
        if top in PRODUCT - {"models"}:
            return "domain imports only models"
        if module == "aiohttp.web" or module.startswith("aiohttp.web_"):
            return "domain never imports aiohttp.web"
    if package == "models" and top in PRODUCT:
        return "models import nothing of the product"
    if package == "web" and top in PRODUCT - {"domain", "models"}:
        return "web imports only domain and models"
    if package in FACES and top in PRODUCT - {"domain", "models", "web"}:
        return "a face imports only domain, models and web"
    if package == "line_simulator" and top in PRODUCT:
        return "the local LINE platform imports nothing of the product"
    if package == "bot":
        if top == "line_simulator" and relative != "bot/demo.py":
            return "only the demo starts the local LINE platform"
        if top in FACES and relative != "bot/app.py":
            return "only the composition root (bot/app.py) mounts the faces"
    return None


def violations() -> list[str]:
    """Every forbidden import in the product's packages."""
    found = []
    for package in sorted(PRODUCT):
        folder = ROOT / package
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for line, module in imports_of(path):
                reason = forbidden(package, relative, module)
                if reason:
                    found.append(f"{relative}:{line} imports {module}: {reason}")
    return found


def test_no_package_imports_what_the_design_forbids():
    assert violations() == []


AUDIT_READERS = {"AuditFilter", "entries"}  # all a face may take from domain.audit
FACE_PACKAGES = {"bot", "console", "me", "liff", "web"}


def audit_writes_of(path: Path) -> list[tuple[int, str]]:
    """Where a file uses domain.audit for more than reading entries: imports another name of
    it, or uses `audit.<name>` for another. A face names its Actor with domain.actors."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "domain.audit":
            found += [(node.lineno, a.name) for a in node.names if a.name not in AUDIT_READERS]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr not in AUDIT_READERS
            and isinstance(node.value, ast.Name)
            and node.value.id == "audit"
        ):
            found.append((node.lineno, f"audit.{node.attr}"))
    return found


def test_faces_leave_the_audit_rows_to_the_domain():
    found = [
        f"{path.relative_to(ROOT).as_posix()}:{line} writes audit rows with {name}"
        for package in sorted(FACE_PACKAGES)
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, name in audit_writes_of(path)
    ]
    assert found == []


def test_the_audit_check_catches_a_face_writing_rows(tmp_path):
    face = tmp_path / "views.py"
    face.write_text(
        "from domain import audit\nfrom domain.audit import audited\n"
        "async def view():\n    await audit.record('console', 'x', 'y')\n"
    )
    assert [name for _, name in audit_writes_of(face)] == ["audited", "audit.record"]
    reader = tmp_path / "reader.py"
    reader.write_text(
        "from domain.actors import Actor\nfrom domain.audit import AuditFilter, entries\n"
    )
    assert audit_writes_of(reader) == []
    naming = tmp_path / "naming.py"
    naming.write_text("from domain.audit import Actor\n")
    assert [name for _, name in audit_writes_of(naming)] == ["Actor"]


@pytest.mark.parametrize(
    ("package", "relative", "module"),
    [
        ("domain", "domain/x.py", "bot.messages"),
        ("domain", "domain/x.py", "aiohttp.web"),
        ("domain", "domain/x.py", "web.errors"),
        ("models", "models/x.py", "domain.alerts"),
        ("liff", "liff/views.py", "bot.keys"),
        ("liff", "liff/views.py", "console.views"),
        ("console", "console/views.py", "liff.views"),
        ("me", "me/views/line.py", "bot.login_notices"),
        ("me", "me/views/page.py", "console.auth"),
        ("bot", "bot/handlers.py", "me.keys"),
        ("web", "web/csrf.py", "bot.config"),
        ("bot", "bot/cli.py", "line_simulator"),
        ("bot", "bot/handlers.py", "liff.views"),
        ("line_simulator", "line_simulator/app.py", "models"),
    ],
)
def test_the_import_check_catches_each_forbidden_kind(package, relative, module):
    assert forbidden(package, relative, module) is not None


@pytest.mark.parametrize(
    ("package", "relative", "module"),
    [
        ("domain", "domain/x.py", "models"),
        ("domain", "domain/x.py", "aiohttp"),  # a client is fine; the web server is not
        ("liff", "liff/views.py", "web.keys"),
        ("me", "me/views/line.py", "web.line_login"),
        ("bot", "bot/app.py", "me.app"),
        ("bot", "bot/app.py", "liff.app"),
        ("bot", "bot/demo.py", "line_simulator"),
    ],
)
def test_the_import_check_allows_what_the_design_allows(package, relative, module):
    assert forbidden(package, relative, module) is None


def test_the_cli_starts_without_the_line_sdk_or_the_web_server():
    code = (
        "import sys, bot.cli; "
        "print(sorted(m for m in ('linebot', 'aiohttp.web') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
