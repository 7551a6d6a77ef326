"""The run document (--format json): RunResult.to_dict() with every known secret scrubbed."""

from __future__ import annotations

from ..model import RunResult
from ..secrets import SecretRegistry, mask
from .jsonindent import dumps_indented


def run_document(result: RunResult, secrets: SecretRegistry | None = None) -> str:
    text = dumps_indented(mask(result.to_dict()), 2, str)  # = json.dumps(..., indent=2, default=str), faster
    return secrets.scrub(text) if secrets else text
