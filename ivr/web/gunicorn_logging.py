"""gunicorn's logs, and the app's, through the same redacting filter and format.

`ivr serve` sets this logger class; the Procfile passes it with `--logger-class`, so a server
started by gunicorn directly logs exactly like one started by `ivr serve`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from gunicorn.glogging import Logger

from ivr.logs import LogFormat, configure_logging, protect


class RedactingGunicornLogger(Logger):
    """gunicorn's logger with `ivr.logs.RedactingFilter` on its handlers and on the root's."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        log_format: LogFormat = "text" if os.environ.get("IVR_LOG_FORMAT") == "text" else "json"
        level = self.LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO)
        configure_logging(level if isinstance(level, int) else logging.INFO, log_format)
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                protect(handler, log_format)
