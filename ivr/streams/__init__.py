"""Self-hosted speech transport: Twilio Media Streams sessions over a WebSocket."""
