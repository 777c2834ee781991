"""Serves rendered prompts to Twilio `<Play>`: `GET /prompts/<key>.wav`, cacheable forever.

A file's name is a hash of what it says, so its content never changes: Twilio and any
proxy may keep it for a year. Keys are checked against a strict pattern before any file
system access, so no request can reach outside the prompt folders.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, abort, send_file

from ivr.web.context import prompt_library

prompts = Blueprint("prompts", __name__, url_prefix="/prompts")

ONE_YEAR = 365 * 24 * 3600


@prompts.get("/<key>.wav")
def prompt(key: str) -> Response:
    found = prompt_library().file_for_key(key)  # None for anything but a hex key
    if found is None:
        abort(404)
    try:
        stat = found.stat()
        etag = _etag(found, stat.st_mtime_ns, stat.st_size)
        response = send_file(
            found, mimetype="audio/wav", etag=etag, max_age=ONE_YEAR, conditional=True
        )
    except OSError:  # pruned or swept between the lookup and now
        abort(404)
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response


@lru_cache(maxsize=4096)
def _etag(path: Path, mtime_ns: int, size: int) -> str:
    """A strong ETag: the hash of the bytes, computed again only when the file changes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:32]
