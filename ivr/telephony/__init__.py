"""The only code that knows Twilio: TwiML, request signatures, the REST client."""
