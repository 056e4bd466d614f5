"""Schema governance: compare the live schema with a baseline SDL."""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    BreakingChange,
    DangerousChange,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
)


@dataclass(frozen=True)
class SchemaReport:
    """Breaking and dangerous changes of the current schema against a baseline."""

    breaking: tuple[BreakingChange, ...]
    dangerous: tuple[DangerousChange, ...]

    def lines(self) -> list[str]:
        """Human-readable lines, breaking first; one summary line when clean."""
        out = [f"BREAKING {c.type.name}: {c.description}" for c in self.breaking]
        out += [f"DANGEROUS {c.type.name}: {c.description}" for c in self.dangerous]
        return out or ["no breaking or dangerous changes"]


def compare_with_baseline(baseline_sdl: str, current_sdl: str | None = None) -> SchemaReport:
    """Diff `current_sdl` (default: the app's schema) against `baseline_sdl`."""
    if current_sdl is None:
        from graph.schema import schema

        current_sdl = schema.as_str()
    old, new = build_schema(baseline_sdl), build_schema(current_sdl)
    return SchemaReport(
        breaking=tuple(find_breaking_changes(old, new)),
        dangerous=tuple(find_dangerous_changes(old, new)),
    )
