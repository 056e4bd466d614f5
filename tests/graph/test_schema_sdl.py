"""schema.graphql is the code's SDL, fully described, and `schema check` catches breakage."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from graph.cli import main
from graph.governance import compare_with_baseline
from graph.schema import schema

ROOT = Path(__file__).resolve().parents[2]


def test_schema_file_matches_the_code() -> None:
    exported = schema.as_str().strip()
    on_disk = (ROOT / "schema.graphql").read_text().strip()
    assert on_disk == exported, "schema.graphql drifted: run `retailgraph schema export > schema.graphql`"


def test_every_type_field_and_argument_has_a_description() -> None:
    missing: list[str] = []
    for name, gql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not gql_type.description:
            missing.append(name)
        if isinstance(gql_type, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in gql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(gql_type, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in gql_type.values.items() if not value.description]
    assert missing == []


def test_contract_query_fields_exist() -> None:
    query = schema._schema.query_type
    assert query is not None
    expected = {"node", "nodes", "viewer", "customer", "customers", "order", "orders", "product",
                "inventory", "case", "workflow", "returnEligibility"}
    assert expected <= set(query.fields)


def test_schema_export_prints_the_sdl(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "export"]) == 0
    assert capsys.readouterr().out.strip() == schema.as_str().strip()


def test_schema_check_is_clean_against_itself_and_flags_a_removed_field(tmp_path: Path) -> None:
    sdl = schema.as_str()
    assert compare_with_baseline(sdl).breaking == ()
    baseline = tmp_path / "baseline.graphql"
    baseline.write_text(sdl.replace("type Query {", "type Query {\n  legacyField: String", 1))
    report = compare_with_baseline(baseline.read_text())
    assert any("legacyField" in change.description for change in report.breaking)
    assert main(["schema", "check", str(baseline)]) == 1
