"""Turn the text of a flow file into a `Flow`, or into errors that name file, line and fix.

Pure: takes text, returns a model or raises `FlowError`. Reading files is `ivr.app.flows`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from ivr.dialog.checks import Problem, check_flow
from ivr.dialog.schema import Flow

Location = tuple[str | int, ...]


class FlowLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. `on`, `yes` and `no` stay words, as admins mean them."""


FlowLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
FlowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class FlowIssue:
    """One thing wrong with a flow file."""

    file: str
    line: int
    message: str
    fix: str = ""

    def __str__(self) -> str:
        hint = f" Fix: {self.fix}" if self.fix else ""
        return f"{self.file}:{self.line}: {self.message}.{hint}"


class FlowError(ValueError):
    """A flow file that must not go live, with every issue found."""

    def __init__(self, issues: Sequence[FlowIssue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def parse_flow(text: str, file: str = "<flow>") -> Flow:
    """Parse and validate one flow. Raises `FlowError` listing every problem found."""
    try:
        root = yaml.compose(text, Loader=FlowLoader)
        data = yaml.load(text, Loader=FlowLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(error, "problem", None) or str(error)
        raise FlowError([FlowIssue(file, line, f"this is not valid YAML: {problem}",
                                   "check the indentation and quoting on this line")]) from None
    if not isinstance(data, dict):
        raise FlowError([FlowIssue(file, 1, "a flow file must be a mapping of keys",
                                   "start with `name:`, `disclosure:`, `start:` and `states:`")])
    try:
        flow = Flow.model_validate(data)
    except ValidationError as error:
        issues = [_issue_from_pydantic(file, root, item) for item in error.errors()]
        raise FlowError(sorted(issues, key=lambda issue: issue.line)) from None
    problems = check_flow(flow)
    if problems:
        raise FlowError([_issue_from_problem(file, root, problem) for problem in problems])
    return flow


def _issue_from_pydantic(file: str, root: yaml.Node | None, item: Any) -> FlowIssue:
    location: Location = tuple(item["loc"])
    kind = item["type"]
    message = item["msg"].removeprefix("Value error, ")
    where = ".".join(str(part) for part in location) or "the file"
    if kind == "missing":
        parent = location[:-1]
        return FlowIssue(file, _line_of(root, parent, key_line=True),
                         f"`{location[-1]}` is missing under {_place(parent)}",
                         f"add `{location[-1]}:`{_fix_for_missing(str(location[-1]))}")
    if kind == "extra_forbidden":
        return FlowIssue(file, _line_of(root, location, key_line=True),
                         f"`{location[-1]}` is not a setting here ({where})",
                         "check the spelling, or remove it; the JSON Schema lists every key "
                         "(ivr dialogs schema)")
    return FlowIssue(file, _line_of(root, location), f"{where}: {message}",
                     _fix_for_type(kind))


def _issue_from_problem(file: str, root: yaml.Node | None, problem: Problem) -> FlowIssue:
    return FlowIssue(file, _line_of(root, problem.location), problem.message, problem.fix)


def _place(location: Location) -> str:
    return "the top of the file" if not location else "`" + ".".join(map(str, location)) + "`"


def _fix_for_missing(key: str) -> str:
    return {
        "disclosure": " with a sentence saying this is an automated assistant and that saying "
        "agent or pressing 0 reaches a person",
        "start": " with the name of the first state",
        "states": " with at least one state",
        "name": " with a short lower_case name for the flow",
    }.get(key, "")


def _fix_for_type(kind: str) -> str:
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "use the kind of value shown in the JSON Schema (ivr dialogs schema)"
    if kind == "string_pattern_mismatch":
        return "use lower_case letters, digits and underscores"
    return ""


def _line_of(root: yaml.Node | None, location: Location, *, key_line: bool = False) -> int:
    """The 1-based line of the deepest node on `location` that exists in the YAML."""
    if root is None:
        return 1
    node: yaml.Node = root
    line = node.start_mark.line + 1
    for part in location:
        child = _child(node, part)
        if child is None:
            break
        key_node, value_node = child
        line = (key_node or value_node).start_mark.line + 1
        if not key_line or part != location[-1]:
            line = value_node.start_mark.line + 1 if key_node is None else line
        node = value_node
    return line


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if str(key_node.value) == str(part):
                return key_node, value_node
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return None, node.value[part]
    return None
