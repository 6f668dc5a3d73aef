"""Apps hand work to workers by task name (apps/core/tasks.py): every name they send must be a task."""

from __future__ import annotations

import re
from pathlib import Path

from celery import current_app

ROOT = Path(__file__).resolve().parents[2]


def test_every_task_name_the_apps_send_is_a_registered_task() -> None:
    current_app.loader.import_default_modules()
    sent = {m for path in (ROOT / "apps").rglob("*.py") for m in re.findall(r'send_task\("([\w.]+)"', path.read_text())}
    assert len(sent) >= 6
    assert sent <= set(current_app.tasks), sent - set(current_app.tasks)


def test_no_app_imports_a_task_module() -> None:
    imports = [str(p.relative_to(ROOT)) for p in (ROOT / "apps").rglob("*.py")
               if re.search(r"^\s*(from workers\.(?!engines)\w+ import|import workers\.(?!engines))", p.read_text(), re.M)]
    assert imports == []
