"""The application layer: the use cases of the server.

Each module is one use case and owns every decision that needs the database or a clock; the
web layer and the CLI only translate requests and commands into calls on them (the web layer
never imports storage).

The call:
- `contract`: the types a transport hands a use case and gets back (inbound event, reply,
  agent leg, fallback).
- `calls`: a call's turns (read, decide with NLU and actions holding no lock, store).
- `transfer_policy`: who a transfer rings and the fallback, from settings alone.
- `handoff`: the transfer legs (whisper, accept and decline, next agent, fallback).
- `routing`: which agent a transfer rings; agents and their presence.
- `leases`: agents' reservations expire when Twilio never reports back.
- `summary`: the summary an agent gets, built from a call's turns.
- `after_call`: the survey and confirmation text once the agent hangs up.

The people around it:
- `queries`: what the console, API and softphone show (audited reads).
- `live`: the live console's incoming cards and on-screen accept or decline.
- `feedback`: agents' corrections of the bot's intent and summary.
- `accounts`, `data_rights`: console users; retention, forgetting and export.
- `stats`: intervals, tests and the four-fifths rule for figures by caller segment.

Set-up: `flows` (the flows in `dialogs/`), `prompts` (the texts to pre-render), `database`
(migrations, demo data).
"""
