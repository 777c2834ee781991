"""Download a Vosk model and unpack it safely into the models folder.

The zip is streamed to a temporary file next to the destination, its size (and SHA-256 when
given) checked, then unpacked with every entry vetted (no absolute paths, no `..`, no links,
no zip bombs) into a temporary folder that is renamed into place only when it holds a Vosk
model. On any error nothing is left behind.
"""

from __future__ import annotations

import hashlib
import re
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import requests

DEFAULT_BASE_URL = "https://alphacephei.com/vosk/models"
CHUNK_BYTES = 1 << 20
MAX_ENTRIES = 10_000
MAX_RATIO = 200
"""Largest compression ratio of one entry; real model files compress 2-10x."""
RATIO_CHECK_MIN_BYTES = 1 << 20
"""Tiny files can compress very well; the ratio only matters for big ones."""
TIMEOUT = (10, 60)  # connect, read (seconds)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

Progress = Callable[[int, int], None]
"""Called with (bytes received, total bytes or 0 when the server does not say)."""


class ModelDownloadError(Exception):
    """A model could not be downloaded or unpacked; the message says why and what to do."""


def download_model(
    name: str,
    dest: Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    sha256: str | None = None,
    progress: Progress | None = None,
    session: Any = None,
    max_unzipped_bytes: int = 5 * 2**30,
) -> Path:
    """Fetch `{base_url}/{name}.zip` and unpack it to `dest/name`; returns that folder."""
    if not _NAME.match(name):
        raise ModelDownloadError(
            f"{name!r} is not a model name: use letters, digits, '.', '-' and '_' only, "
            "e.g. vosk-model-small-en-us-0.15"
        )
    expected_sha = _checked_sha256(sha256)
    dest = Path(dest)
    target = dest / name
    if target.exists():
        raise ModelDownloadError(f"{target} already exists; delete it first to download again")
    dest.mkdir(parents=True, exist_ok=True)
    url = f"{base_url.rstrip('/')}/{name}.zip"
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=dest) as scratch:
        archive = Path(scratch) / "download.zip"
        digest = _fetch(url, archive, session or requests, progress)
        if expected_sha and digest != expected_sha:
            raise ModelDownloadError(
                f"the download of {url} is corrupt or not the expected file: SHA-256 is "
                f"{digest}, expected {expected_sha}"
            )
        unpacked = Path(scratch) / "unpacked"
        unpacked.mkdir()
        _safe_unzip(archive, unpacked, max_unzipped_bytes)
        archive.unlink()
        root = _model_root(unpacked, name)
        try:
            root.rename(target)  # same file system: atomic
        except OSError as error:
            raise ModelDownloadError(f"could not move the model into {target}: {error}") from None
    return target


def _checked_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    value = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ModelDownloadError("--sha256 must be 64 hexadecimal digits")
    return value


def _fetch(url: str, archive: Path, session: Any, progress: Progress | None) -> str:
    """Stream the URL to a file; returns its SHA-256. Checks the status and the length."""
    try:
        response = session.get(url, stream=True, timeout=TIMEOUT)
    except requests.RequestException as error:
        raise ModelDownloadError(f"could not reach {url}: {error}") from None
    with response:
        if response.status_code == 404:
            raise ModelDownloadError(
                f"there is no model at {url} (HTTP 404); check the name against the list at "
                f"{DEFAULT_BASE_URL}"
            )
        if response.status_code != 200:
            raise ModelDownloadError(f"{url} answered HTTP {response.status_code}")
        total = int(response.headers.get("Content-Length") or 0)
        digest = hashlib.sha256()
        received = 0
        try:
            with archive.open("wb") as handle:
                for chunk in response.iter_content(CHUNK_BYTES):
                    handle.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    if progress:
                        progress(received, total)
        except requests.RequestException as error:
            raise ModelDownloadError(
                f"the download of {url} is incomplete, the connection broke off ({error}); "
                "try again"
            ) from None
    if total and received != total:
        raise ModelDownloadError(
            f"the download of {url} is incomplete: got {received} of {total} bytes; try again"
        )
    return digest.hexdigest()


def _safe_unzip(archive: Path, into: Path, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(archive) as zipped:
            entries = zipped.infolist()
            _vet(entries, into, max_bytes)
            written = 0
            for entry in entries:
                path = into / entry.filename
                if entry.is_dir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(entry) as source, path.open("wb") as target:
                    while block := source.read(CHUNK_BYTES):
                        written += len(block)
                        if written > max_bytes:
                            raise ModelDownloadError(_too_big(max_bytes))
                        target.write(block)
    except zipfile.BadZipFile as error:
        raise ModelDownloadError(f"the download is not a valid zip file: {error}") from None


def _vet(entries: list[zipfile.ZipInfo], into: Path, max_bytes: int) -> None:
    """Refuse archives that would write outside `into`, make links, or blow up in size."""
    if len(entries) > MAX_ENTRIES:
        raise ModelDownloadError(
            f"the archive has {len(entries)} entries; a model has fewer "
            f"than {MAX_ENTRIES}, so this is not one"
        )
    root = into.resolve()
    total = 0
    for entry in entries:
        name = entry.filename
        posix, windows = PurePosixPath(name), PureWindowsPath(name)
        if posix.is_absolute() or windows.is_absolute() or windows.drive or name.startswith("\\"):
            raise ModelDownloadError(f"unsafe archive: entry {name!r} has an absolute path")
        if ".." in posix.parts or ".." in windows.parts:
            raise ModelDownloadError(f"unsafe archive: entry {name!r} points outside the folder")
        if not (root / name).resolve().is_relative_to(root):
            raise ModelDownloadError(f"unsafe archive: entry {name!r} points outside the folder")
        kind_bits = stat.S_IFMT(entry.external_attr >> 16)  # 0: not recorded, a plain file
        if kind_bits not in (0, stat.S_IFREG, stat.S_IFDIR):
            kind = "a symbolic link" if kind_bits == stat.S_IFLNK else "a special file"
            raise ModelDownloadError(f"unsafe archive: entry {name!r} is {kind}")
        total += entry.file_size
        if total > max_bytes:
            raise ModelDownloadError(_too_big(max_bytes))
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size >= RATIO_CHECK_MIN_BYTES and ratio > MAX_RATIO:
            raise ModelDownloadError(
                f"unsafe archive: entry {name!r} expands {ratio:.0f} times (a zip bomb?)"
            )


def _too_big(max_bytes: int) -> str:
    return f"the archive unpacks to more than {max_bytes / 2**30:.1f} GiB; refused"


def _model_root(unpacked: Path, name: str) -> Path:
    """The folder of the archive that holds the model (zips usually wrap it in one folder)."""
    children = list(unpacked.iterdir())
    root = children[0] if len(children) == 1 and children[0].is_dir() else unpacked
    if not ((root / "conf" / "model.conf").is_file() or (root / "am" / "final.mdl").is_file()):
        raise ModelDownloadError(
            f"{name}.zip does not hold a Vosk model (no conf/model.conf or am/final.mdl)"
        )
    return root
