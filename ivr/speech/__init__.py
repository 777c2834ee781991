"""Speech: audio helpers, text-to-speech prompts, speech recognition engines."""
