"""Todos: each user's own list of things to do."""
