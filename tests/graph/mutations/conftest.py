"""Mutation tests run the graph, its orchestrator (SQLite in a tmp dir) and the real sandbox."""

from workflow_fixtures import facts, graph_app, settings, transports, upstreams

__all__ = ["facts", "graph_app", "settings", "transports", "upstreams"]
