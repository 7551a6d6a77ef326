"""The run document (--format json): RunResult.to_dict() with every known secret scrubbed."""

from __future__ import annotations

from ..model import RunResult
from ..secrets import SecretRegistry
from .jsonindent import dumps_indent


def run_document(result: RunResult, secrets: SecretRegistry | None = None) -> str:
    """`json.dumps(mask(result.to_dict()), indent=2, default=str)`, scrubbed. No mask() pass is
    needed: a Secret is no JSON type, so default=str writes str(secret), its shown form, which is
    what mask() would have put there (tests/test_jsonindent.py compares the two)."""
    text = dumps_indent(result.to_dict())
    return secrets.scrub(text) if secrets else text
