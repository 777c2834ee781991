"""Business actions: rasa-sdk custom actions run in-process or on a rasa-sdk action server.

`ActionRunner(spec, context).run(name, ...)` runs one action and always returns an
`ActionDone`; in-process actions reach server resources through `context.current()`.
The bundled demo actions live in `ivr.actions.demo`.
"""

from ivr.actions.context import ActionContext, current, use
from ivr.actions.runner import ActionFailed, ActionRunner

__all__ = ["ActionContext", "ActionFailed", "ActionRunner", "current", "use"]
