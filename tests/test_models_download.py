"""`ivr models download`: a Vosk model zip is fetched, checked and unpacked safely, or refused.

`responses` stands in for the model server; the zips are built here.
"""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner

from ivr.cli.models import models
from ivr.speech.models import ModelDownloadError, download_model

BASE = "https://models.example.com/vosk"
NAME = "vosk-model-tiny-test-0.1"
URL = f"{BASE}/{NAME}.zip"


def model_zip(extra: dict[str, bytes] | None = None, *, layout: bool = True) -> bytes:
    """A well-formed model zip (wrapped in a folder named like the model, as Vosk's are)."""
    files = {
        f"{NAME}/README": b"A tiny test model\n",
        f"{NAME}/graph/words.txt": b"<eps> 0\nhello 1\n",
    }
    if layout:
        files[f"{NAME}/am/final.mdl"] = b"\x00acoustic model" * 1000
        files[f"{NAME}/conf/model.conf"] = b"--beam=10.0\n"
    files.update(extra or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{NAME}/", b"")
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def serve(body: bytes, status: int = 200, **headers: str) -> None:
    headers = {"Content-Length": str(len(body)), **headers}
    responses.add(responses.GET, URL, body=body, status=status, headers=headers)


def download(dest: Path, **options: object) -> Path:
    return download_model(NAME, dest, base_url=BASE, **options)  # type: ignore[arg-type]


@responses.activate
def test_downloads_and_unpacks_a_model_with_progress(tmp_path: Path) -> None:
    body = model_zip()
    serve(body)
    calls: list[tuple[int, int]] = []
    target = download(
        tmp_path, sha256=hashlib.sha256(body).hexdigest(), progress=lambda *a: calls.append(a)
    )
    assert target == tmp_path / NAME
    assert (target / "am" / "final.mdl").read_bytes() == b"\x00acoustic model" * 1000
    assert (target / "conf" / "model.conf").is_file()
    assert [path.name for path in tmp_path.iterdir()] == [NAME]  # no temporary files left
    assert calls and calls[-1] == (len(body), len(body))
    assert [received for received, _ in calls] == sorted(received for received, _ in calls)


@responses.activate
def test_an_existing_model_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / NAME).mkdir()
    with pytest.raises(ModelDownloadError, match="already exists"):
        download(tmp_path)
    assert not responses.calls


def unsafe_zip(name: str, data: bytes = b"x", *, mode: int | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for good, content in (("am/final.mdl", b"model"), ("conf/model.conf", b"")):
            archive.writestr(good, content)
        entry = zipfile.ZipInfo(name)
        if mode is not None:
            entry.external_attr = mode << 16
        archive.writestr(entry, data)
    return buffer.getvalue()


def bomb_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("am/final.mdl", b"model")
        archive.writestr("conf/model.conf", b"")
        archive.writestr("graph/HCLG.fst", bytes(50 * 2**20))  # 50 MB of zeros: about 50 KB
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "status", "headers", "message"),
    [
        (b"not found", 404, {}, "no model at .*HTTP 404"),
        (b"oops", 500, {}, "HTTP 500"),
        (model_zip(), 200, {"Content-Length": "999999"}, "incomplete"),
        (b"this is not a zip", 200, {}, "not a valid zip"),
        (unsafe_zip("../evil", b"owned"), 200, {}, "outside the folder"),
        (unsafe_zip("/etc/evil", b"owned"), 200, {}, "absolute path"),
        (unsafe_zip("C:/evil", b"owned"), 200, {}, "absolute path"),
        (unsafe_zip("link", b"/etc/passwd", mode=stat.S_IFLNK | 0o777), 200, {}, "symbolic link"),
        (bomb_zip(), 200, {}, "zip bomb"),
        (model_zip(layout=False), 200, {}, "does not hold a Vosk model"),
    ],
    ids=[
        "404",
        "500",
        "short",
        "not-zip",
        "traversal",
        "absolute",
        "drive",
        "symlink",
        "bomb",
        "no-layout",
    ],
)
@responses.activate
def test_bad_downloads_are_refused_and_leave_nothing(
    tmp_path: Path, body: bytes, status: int, headers: dict[str, str], message: str
) -> None:
    serve(body, status, **headers)
    dest = tmp_path / "models"
    with pytest.raises(ModelDownloadError, match=message):
        download(dest)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "evil").exists()


@responses.activate
def test_a_wrong_checksum_is_refused(tmp_path: Path) -> None:
    serve(model_zip())
    with pytest.raises(ModelDownloadError, match=r"SHA-256 is .*, expected 0{64}"):
        download(tmp_path, sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


@responses.activate
def test_too_much_unpacked_data_is_refused(tmp_path: Path) -> None:
    serve(model_zip())
    with pytest.raises(ModelDownloadError, match="unpacks to more than"):
        download(tmp_path, max_unzipped_bytes=1000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../evil", "a/b", "", "model name"])
def test_model_names_are_plain_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ModelDownloadError, match="not a model name"):
        download_model(name, tmp_path)


def test_a_malformed_checksum_is_refused_before_downloading(tmp_path: Path) -> None:
    with pytest.raises(ModelDownloadError, match="64 hexadecimal digits"):
        download(tmp_path, sha256="abc")


@responses.activate
def test_cli_downloads_with_a_progress_bar_then_lists(tmp_path: Path) -> None:
    body = model_zip()
    serve(body)
    runner = CliRunner()
    folder = tmp_path / "models"
    options = ["--dir", str(folder), "--base-url", BASE]
    result = runner.invoke(
        models, ["download", NAME, *options, "--sha256", hashlib.sha256(body).hexdigest()]
    )
    assert result.exit_code == 0, result.output
    assert f"Saved {NAME} to {folder / NAME}" in result.output
    assert f"IVR_VOSK_MODEL={folder / NAME}" in result.output
    (folder / "not-a-model").mkdir()
    listing = runner.invoke(models, ["list", "--dir", str(folder)])
    assert listing.exit_code == 0
    assert NAME in listing.output and "not-a-model" in listing.output
    lines = dict(line.split("\t", 1) for line in listing.output.splitlines())
    assert "not a Vosk model" in lines["not-a-model"]
    assert "not a Vosk model" not in lines[NAME]


@responses.activate
def test_cli_reports_errors_plainly(tmp_path: Path) -> None:
    serve(b"missing", 404)
    result = CliRunner().invoke(
        models, ["download", NAME, "--dir", str(tmp_path), "--base-url", BASE]
    )
    assert result.exit_code == 1
    assert "Error: there is no model at" in result.output
    empty = CliRunner().invoke(models, ["list", "--dir", str(tmp_path / "none")])
    assert "No models in" in empty.output
