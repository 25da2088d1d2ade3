"""`tools/check_architecture.py`, run as CI runs it: the repository passes, and each rule fails
on a small package tree written to tmp_path that breaks it (and only it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "check_architecture.py"

#: A tree that keeps every rule, with the shapes that must not be mistaken for cycles: package
#: `__init__`s re-exporting submodules that import their siblings through the package, relative
#: imports of every level, a TYPE_CHECKING import, and use cases importing the shared adapters.
CLEAN = {
    "bot/__init__.py": '"""core"""',
    "bot/core.py": "VALUE = 1",
    "bot/store/__init__.py": "from .ledger import Ledger\nfrom . import models",
    "bot/store/models.py": "class Base: ...",
    "bot/store/ledger.py": "from . import models\nfrom .models import Base\n"
                           "class Ledger(Base): ...",
    "bot/pins/__init__.py": '"""use cases"""',
    "bot/pins/accounts.py": "from ..store import Ledger",
    "bot/pins/uploads.py": "from bot.pins import accounts",
    "bot/pins/share.py": """
        from typing import TYPE_CHECKING
        from ..core import VALUE
        from . import accounts, uploads
        from bot.pins.accounts import *
        if TYPE_CHECKING:
            from bot.store.ledger import Ledger
        """,
    "bot/pins/folder.py": "import bot.pins.uploads\nfrom bot.store.ledger import Ledger",
    "bot/services.py": "from .pins import folder, share\nfrom .store import Ledger",
    "handlers/__init__.py": "from bot.services import share\nfrom . import files\n"
                            "def register_all() -> None: files.register()",
    "handlers/_parse.py": "import json",
    "handlers/files.py": "from handlers import _parse\nfrom ._parse import json\n"
                         "def register() -> None: ...",
    "pinbot/__init__.py": "",
    "pinbot/main.py": "from bot import services\nfrom handlers import register_all",
}


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in {**CLEAN, **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).strip() + "\n")
    return root


def _check(root: Path) -> tuple[int, list[str]]:
    result = subprocess.run([sys.executable, str(SCRIPT), "--root", str(root)],
                            capture_output=True, text=True, check=False, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout.splitlines()


def _fails_once(root: Path) -> str:
    """The check exits 1 with exactly one violation line, which is returned."""
    code, lines = _check(root)
    assert code == 1, lines
    assert len(lines) == 1, lines
    return lines[0]


def test_the_repository_keeps_its_architecture() -> None:
    code, lines = _check(ROOT)
    assert code == 0, "\n".join(lines)
    assert lines[-1].startswith("architecture ok: ")


def test_a_clean_tree_passes_and_package_reexports_are_not_cycles(tmp_path: Path) -> None:
    code, lines = _check(_tree(tmp_path, {}))
    assert code == 0, lines
    assert lines == [lines[0]] and lines[0].startswith(f"architecture ok: {len(CLEAN)} modules")


@pytest.mark.parametrize(("path", "source", "target"), [
    ("bot/app.py", "from handlers import register_all", "handlers"),
    ("bot/app.py", "import handlers.files as files", "handlers.files"),
    ("bot/store/cli.py", "from pinbot.main import main", "pinbot.main"),
    ("bot/app.py", "import importlib\nimportlib.import_module('handlers.files')", "handlers.files"),
    ("bot/app.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import handlers",
     "handlers"),
])
def test_bot_importing_handlers_or_pinbot_fails(tmp_path: Path, path: str, source: str,
                                                target: str) -> None:
    line = _fails_once(_tree(tmp_path, {path: source}))
    module = path.removesuffix(".py").replace("/", ".")
    assert line.startswith(f"{path}:")
    assert f"{module} imports {target}: bot/ must never import handlers/ or pinbot/" in line


def test_handlers_importing_pinbot_fails(tmp_path: Path) -> None:
    home = "import json\n\nfrom pinbot import main"
    line = _fails_once(_tree(tmp_path, {"handlers/home.py": home}))
    assert line.startswith("handlers/home.py:3: handlers.home imports pinbot")
    assert "handlers/ must never import pinbot/" in line


def test_an_import_cycle_is_reported_once_with_its_path(tmp_path: Path) -> None:
    line = _fails_once(_tree(tmp_path, {
        "bot/core.py": "from .pins.share import VALUE as _V\nVALUE = 1",
    }))
    assert line == ("import cycle among 2 modules (bot.core, bot.pins.share): "
                    "bot.core (bot/core.py:1) -> bot.pins.share (bot/pins/share.py:2) -> bot.core")


def test_a_package_init_that_imports_its_importer_is_a_cycle(tmp_path: Path) -> None:
    """`from pkg import Name` inside pkg/x.py reads a half-built package when pkg imports x."""
    line = _fails_once(_tree(tmp_path, {
        "bot/store/models.py": "from bot.store import Ledger\nclass Base: ...",
    }))
    assert line.startswith("import cycle among 3 modules (bot.store, bot.store.ledger, "
                           "bot.store.models): ")
    assert "(bot/store/models.py:1)" in line


def test_importing_a_submodule_runs_its_package_first(tmp_path: Path) -> None:
    """bot.pins.folder is reached through bot.pins, whose `__init__` here imports bot.services."""
    line = _fails_once(_tree(tmp_path, {"bot/pins/__init__.py": "from bot import services"}))
    assert line.startswith("import cycle among 2 modules (bot.pins, bot.services): ")
    assert "bot.services (bot/services.py:1) -> bot.pins" in line


def test_a_function_level_import_is_reported_with_file_and_line(tmp_path: Path) -> None:
    line = _fails_once(_tree(tmp_path, {
        "bot/core.py": "VALUE = 1\n\nclass C:\n    async def f(self) -> None:\n"
                       "        from .store import models",
    }))
    assert line.startswith("bot/core.py:5: function-level import of bot.store.models in bot.core")


def test_a_function_level_import_that_hides_a_cycle_shows_both(tmp_path: Path) -> None:
    code, lines = _check(_tree(tmp_path, {
        "bot/core.py": "def late() -> None:\n    from bot import services\nVALUE = 1",
    }))
    assert code == 1
    assert lines[0].startswith("bot/core.py:2: function-level import of bot.services in bot.core")
    assert lines[1] == ("import cycle among 3 modules (bot.core, bot.pins.share, bot.services): "
                        "bot.core (bot/core.py:2, in a function) -> bot.services "
                        "(bot/services.py:1) -> bot.pins.share (bot/pins/share.py:2) -> bot.core")
    assert len(lines) == 2


def test_a_cycle_closed_only_by_type_checking_imports_is_reported_separately(
        tmp_path: Path) -> None:
    line = _fails_once(_tree(tmp_path, {
        "bot/store/models.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                               "    from bot.pins.accounts import X\nelse:\n    X = 1",
    }))
    assert line.startswith("type-only import cycle among ")
    assert "(bot/store/models.py:3, TYPE_CHECKING)" in line


def test_a_runtime_import_in_the_else_of_type_checking_is_a_runtime_cycle(
        tmp_path: Path) -> None:
    line = _fails_once(_tree(tmp_path, {
        "bot/store/models.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                               "    X = 1\nelse:\n    from bot.pins.accounts import X",
    }))
    assert line.startswith("import cycle among ")


@pytest.mark.parametrize("source", [
    "from .share import VALUE",
    "from bot.pins import share",
    "import bot.pins.share",
])
def test_a_use_case_importing_a_sibling_use_case_fails(tmp_path: Path, source: str) -> None:
    line = _fails_once(_tree(tmp_path, {"bot/pins/folder.py": source}))
    assert line.startswith("bot/pins/folder.py:1: use case bot.pins.folder imports use case "
                           "bot.pins.share: sibling use cases never import each other")


def test_an_unparsable_module_or_an_empty_root_fails(tmp_path: Path) -> None:
    line = _fails_once(_tree(tmp_path / "broken", {"handlers/home.py": "def (:"}))
    assert line.startswith("handlers/home.py: cannot be parsed (SyntaxError")
    code, lines = _check(tmp_path / "empty")
    assert code == 1 and "none of the packages bot, handlers, pinbot found" in lines[0]
