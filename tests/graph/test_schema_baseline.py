"""Schema governance: the previous release's SDL still holds, and deprecations say why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from graph.governance import compare_with_baseline
from graph.schema import schema

BASELINE = Path(__file__).with_name("baseline.graphql")
GRAPHQL_DEFAULT_REASON = "No longer supported"


def test_retailgraph_schema_check_passes_against_the_previous_release() -> None:
    """Run the real command; exit 1 (and this test) on any breaking change."""
    completed = subprocess.run(
        [sys.executable, "-m", "graph.cli", "schema", "check", str(BASELINE)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "BREAKING" not in completed.stdout


def test_the_check_would_catch_a_removed_gate_or_field() -> None:
    """The baseline is strict enough to matter: dropping a field breaks it."""
    current = schema.as_str().replace("  email: String @requiresRole", "  mail: String @requiresRole", 1)
    report = compare_with_baseline(BASELINE.read_text(encoding="utf-8"), current)
    assert any("email" in change.description for change in report.breaking)


def test_every_deprecation_carries_a_reason() -> None:
    missing: list[str] = []
    for name, gql_type in schema._schema.type_map.items():
        if name.startswith("__"):
            continue
        members: dict[str, object] = {}
        if isinstance(gql_type, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in gql_type.fields.items():
                members[f"{name}.{field_name}"] = field
                for arg_name, arg in getattr(field, "args", {}).items():
                    members[f"{name}.{field_name}({arg_name})"] = arg
        if isinstance(gql_type, GraphQLEnumType):
            members.update({f"{name}.{v}": value for v, value in gql_type.values.items()})
        for label, member in members.items():
            reason = getattr(member, "deprecation_reason", None)
            if reason is not None and (not reason.strip() or reason == GRAPHQL_DEFAULT_REASON):
                missing.append(label)
    assert missing == []
