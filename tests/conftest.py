"""Shared pytest configuration. Area fixtures live in tests/fixtures_*.py modules."""
