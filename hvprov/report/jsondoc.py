"""The run document (--format json): RunResult.to_dict() with every known secret scrubbed."""

from __future__ import annotations

import json

from ..model import RunResult
from ..secrets import SecretRegistry, mask


def run_document(result: RunResult, secrets: SecretRegistry | None = None) -> str:
    text = json.dumps(mask(result.to_dict()), indent=2, default=str)
    return secrets.scrub(text) if secrets else text
