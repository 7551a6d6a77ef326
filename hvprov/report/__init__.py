"""Reporters: the only code that prints. They consume runner events and the final RunResult."""
