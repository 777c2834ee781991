"""Callers for tests, benchmarks and `ivr simulate`: a simulated call over the webhooks
(`simulated_call`) and a Twilio-like Media Streams caller (`stream_caller`)."""
