"""The package's shape: each kind declared once and whole, and imports that run one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.contrib import admin
from django.test import RequestFactory

import django_firstpromoter
from django_firstpromoter import protocol, signals
from django_firstpromoter.kinds import KINDS, OUTCOMES, TRACKED_MODELS, Kind, kind_of
from django_firstpromoter.models import TrackedEvent

PACKAGE = Path(django_firstpromoter.__file__).parent


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_every_kind_has_each_of_its_parts(kind: Kind) -> None:
    """A kind in KINDS without its call, signals, admin or attempts would be recorded
    and never sent, or sent and never shown: each part is looked up by its name."""
    assert issubclass(kind.model, TrackedEvent)
    assert kind_of(kind.model) is kind
    assert kind.name in protocol.CALLS
    for status in OUTCOMES:
        assert kind.signal(status) is getattr(signals, f"{kind.name}_{status}")
    assert kind.attempt_model._meta.get_field(kind.name).related_model is kind.model
    model_admin = admin.site._registry[kind.model]
    records = kind.model._meta.verbose_name_plural
    assert list(model_admin.actions or ())[:2] == [f"retry_{records}", f"ignore_{records}"]
    inlines = model_admin.get_inlines(RequestFactory().get("/"), None)
    assert kind.attempt_model in {inline.model for inline in inlines}
    from django_firstpromoter import tasks

    assert tasks.DELIVER_TASKS[kind.model] is getattr(tasks, kind.task_name)


def test_every_tracked_model_is_a_kind() -> None:
    from django.apps import apps

    concrete = {model for model in apps.get_models() if issubclass(model, TrackedEvent)}
    assert concrete == set(TRACKED_MODELS)


def package_imports() -> dict[str, set[str]]:
    """For each module of the package, the package's modules it imports, at the top or
    inside a function, leaving out what only type checkers see."""
    modules = {
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts
    }
    graph: dict[str, set[str]] = {}
    for name in modules:
        path = PACKAGE.parent / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = PACKAGE.parent / name.replace(".", "/") / "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    found.add(target if target in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {target for target in found if target in modules and target != name}
    return graph


def cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if (found := visit(target)) is not None:
                return found
        path.pop()
        return None

    return visit(start)


def test_delivery_knows_no_delivery_mode() -> None:
    """The sender's core imports neither the modes nor the tasks: the mode is handed
    to it (a retry hook), so the tasks can import it without a cycle."""
    graph = package_imports()
    reachable: set[str] = set()
    pending = ["django_firstpromoter.delivery"]
    while pending:
        for target in graph[pending.pop()]:
            if target not in reachable:
                reachable.add(target)
                pending.append(target)
    assert "django_firstpromoter.strategies" not in reachable
    assert "django_firstpromoter.tasks" not in reachable


def test_imports_run_one_way() -> None:
    """No module of the package imports, even inside a function, one that imports it
    back: each layer can be read, and changed, knowing only those below it."""
    graph = package_imports()
    cycles = {module: cycle for module in graph if (cycle := cycle_from(graph, module))}
    assert cycles == {}
