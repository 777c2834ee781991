"""The application layer: the use cases of the server.

Each module is one use case and owns every decision that needs the database or a clock; the
web layer and the CLI only translate requests and commands into calls on them.

- `calls`: a call's turns (read, decide with NLU and actions, store) and the hand-over.
- `handoff`: the transfer legs (whisper, accept and decline, next agent, fallback).
- `after_call`: the survey and confirmation text once the agent hangs up.
- `routing`: which agent a transfer rings; agents and their presence.
- `summary`: the summary an agent gets, built from a call's turns.
- `accounts`, `data_rights`: console users; retention, forgetting and export.
- `flows`, `prompts`: the flows in `dialogs/`, and the fixed lines the server speaks.
"""
