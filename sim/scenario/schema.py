"""The JSON schema of scenario files, generated from the models (editors check YAML with it).

Regenerate after changing a model: ``python -m sim.scenario --write-schema``; a test fails
while the committed file is stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sim.scenario.inherit import BASE, BASE_DESCRIPTION
from sim.scenario.scenario import Scenario

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "scenario.schema.json"


def scenario_json_schema() -> dict[str, Any]:
    """``Scenario.model_json_schema()`` with the JSON-schema dialect named, and ``base``.

    ``base`` is a field of the file, not of the scenario (the loader consumes it before
    validation), so the model does not hold it; the schema documents it so editors accept it.
    """
    schema = Scenario.model_json_schema()
    base = {"description": BASE_DESCRIPTION, "title": "Base", "type": "string", "minLength": 1}
    schema["properties"] = {BASE: base, **schema["properties"]}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    return json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: str | Path = SCHEMA_PATH) -> Path:
    """Write the schema to ``path`` (default: ``sim/schema/scenario.schema.json``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(schema_text(), encoding="utf-8")
    tmp.replace(path)
    return path


def schema_is_current(path: str | Path = SCHEMA_PATH) -> bool:
    """Whether the file at ``path`` holds exactly the schema the models generate now."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8")) == scenario_json_schema()
    except (OSError, ValueError):
        return False
