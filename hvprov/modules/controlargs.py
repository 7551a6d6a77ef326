"""The control modules' argument models (pydantic): the validator of record and the schema of
their docs. control.py's `FastArgs` fronts take plain valid input without importing this file;
anything else, and every error, is validated here (argfront.py)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator

from .args import Args


class DebugArgs(Args):
    msg: Any = Field(None, description="Message to print (templated).")
    var: str | None = Field(None, description="Name of a variable to print instead.")


class SetFactArgs(Args):
    model_config = ConfigDict(extra="allow", frozen=True)
    cacheable: bool = Field(False, description="Accepted for Ansible compatibility; facts live for the run.")


class AssertArgs(Args):
    that: list[Any] = Field(description="Expressions that must all be true.")
    fail_msg: str | None = Field(None, description="Message when one is false.")
    success_msg: str | None = Field(None, description="Message when all hold.")
    quiet: bool = Field(False, description="Do not list the expressions on success.")

    @field_validator("that", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if not isinstance(v, list) else v


class FailArgs(Args):
    msg: Any = Field("Failed as requested from task", description="Why the task fails (templated).")
