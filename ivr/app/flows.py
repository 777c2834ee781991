"""Load every flow in the dialogs folder, or fail with every problem in every file."""

from __future__ import annotations

import json
from pathlib import Path

from ivr.dialog.parse import FlowError, FlowIssue, parse_flow
from ivr.dialog.schema import Flow

SCHEMA_FILE = "flow.schema.json"


def load_flows(directory: Path | str) -> dict[str, Flow]:
    """Flows by name from `directory/*.yaml`. Raises `FlowError` naming file, line and fix."""
    folder = Path(directory)
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not paths:
        raise FlowError([FlowIssue(str(folder), 1, "no flow files (*.yaml) found",
                                   "set IVR_DIALOGS to the folder holding your flows")])
    flows: dict[str, Flow] = {}
    issues: list[FlowIssue] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            issues.append(FlowIssue(str(path), 1, f"cannot read the file ({error})",
                                    "save it as UTF-8 text"))
            continue
        try:
            flow = parse_flow(text, str(path))
        except FlowError as error:
            issues += error.issues
            continue
        if flow.name in flows:
            issues.append(FlowIssue(str(path), 1, f"another file already defines flow "
                                    f"`{flow.name}`", "give each flow a unique `name:`"))
        flows[flow.name] = flow
    if issues:
        raise FlowError(issues)
    return flows


def flow_json_schema() -> str:
    """The flow format as JSON Schema, for editors' autocompletion and validation."""
    schema = Flow.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "IVR dialog flow"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
