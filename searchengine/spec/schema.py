"""The JSON Schema of the spec, for editors (``# yaml-language-server: $schema=...``)."""

from __future__ import annotations

import json
from typing import Any

from searchengine.spec.format import Spec

__all__ = ["spec_json_schema", "spec_json_schema_text"]


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a spec file."""
    schema = Spec.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def spec_json_schema_text() -> str:
    """The schema as the text committed in ``specs/schema.json``."""
    return json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n"
