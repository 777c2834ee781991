"""The benchmark's baseline: a bare Flask app that answers every voice webhook POST with one
static `<Gather>` TwiML document of the same size and shape as the IVR's usual answer.

No signature check, no form parsing, no database, no NLU: what is left is gunicorn, Werkzeug
and Flask's routing. `bench/bench_webhooks.py` serves it with the same gunicorn settings as
the IVR and drives it with the same load generator, so the ratio of the two shows what the
IVR itself costs per turn. Serve it alone with:

    .venv/bin/gunicorn --workers 2 --pythonpath bench baseline_app:app
"""

from __future__ import annotations

from flask import Flask, Response

# An "anything else?" answer as the IVR renders it for the bundled flow (1.3 KB).
TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-US">Order 1 2 3 4 5 6 '
    "shipped on Monday and should arrive by Thursday.</Say>"
    '<Gather action="https://ivr.example.com/voice/turn" actionOnEmptyResult="true" '
    'hints="yes, no, where is my order, I want to check on my order, track my package, '
    "has my order shipped yet, order status, when will my delivery arrive, I haven't received "
    "my parcel, check an order, my package is late, I'd like to know where my shipment is, "
    "tracking information for my order, the delivery still hasn't come, reset my password, "
    "I forgot my password, I can't log in to my account, I'm locked out of my account, change "
    "my password, my password doesn't work, I need a new password, help me sign in, I can't "
    "access my account, password reset, login problems, what are your opening hours, when are "
    "you open, what time do you close, are you open on saturday, business hours, opening "
    "times, what time do you open tomorrow, are you open today, when does the store close, "
    'hours of operation, agent, representative" input="speech dtmf" language="en-US" '
    'method="POST" numDigits="1" speechTimeout="auto" timeout="5">'
    '<Say language="en-US">Is there anything else I can help you with?</Say></Gather>'
    '<Redirect method="POST">https://ivr.example.com/voice/turn</Redirect></Response>'
)


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/voice/<path:_webhook>")
    def webhook(_webhook: str) -> Response:
        return Response(TWIML, status=200, content_type="text/xml; charset=utf-8")

    return app


app = create_app()
