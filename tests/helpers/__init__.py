"""Helpers shared by the test modules, one job a module:

- `helpers.stored`: read back what the server stored (a call, its turns, its latest transfer,
  the audit trail), each in its own short session;
- `helpers.console`: the agent console through Flask's test client (CSRF token, sign-in,
  page text);
- `helpers.engine`: the dialog engine fed events directly (start a call, read its directives).

Test modules import them as `from helpers.stored import stored_call`: `tests/` is on
`sys.path` (the rootdir conftest), as for `conftest`, `servers` and `browser`.
"""
