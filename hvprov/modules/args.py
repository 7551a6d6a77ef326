"""`Args`, the pydantic base of every module's argument schema.

Its own module so that importing `hvprov.modules.base` does not import pydantic: a run whose
tasks are all controller modules validates their plain arguments without it (argfront.py).
`from hvprov.modules.base import Args` still works (base.py's module `__getattr__`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Args(BaseModel):
    """Base of every module's argument schema: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)
