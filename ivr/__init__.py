"""A Twilio voice IVR bot server that tells callers it is automated and hands them to humans."""

__version__ = "0.1.0"
