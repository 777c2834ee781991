"""Pre-rendered prompts: audio helpers, pyttsx3 rendering in its worker process, the
`ivr prompts build` command, and the blueprint that serves the files to Twilio."""

from __future__ import annotations

import atexit
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from flask import Flask

from ivr.app.prompts import first_audio, server_lines, static_prompts
from ivr.cli.prompts import prompts
from ivr.dialog.parse import parse_flow
from ivr.dialog.schema import Flow
from ivr.speech.audio import (
    FRAME_MS,
    ULAW_FRAME_BYTES,
    pcm16_to_ulaw,
    read_ulaw_wav,
    read_wav,
    resample,
    rms,
    ulaw_frames,
    ulaw_to_pcm16,
    write_ulaw_wav,
)
from ivr.speech.tts import INDEX_FILE, TEST_HANG_VARIABLE, PromptLibrary, normalise

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_FLOWS = ROOT / "dialogs"
SPEECH_RMS_FLOOR = 1000  # 16-bit PCM; espeak speech is around 3000, silence is 0


def espeak_wav(path: Path, text: str) -> Path:
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path


def soxi(path: Path) -> dict[str, str]:
    out = subprocess.run(["soxi", str(path)], check=True, capture_output=True, text=True)
    fields = {}
    for line in out.stdout.splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def wait_for(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def worker_processes(library: PromptLibrary) -> list[multiprocessing.Process]:
    """The library's own worker (other tests' libraries may have theirs running too)."""
    process = library.worker_process
    return [process] if process is not None else []


@pytest.fixture
def library(tmp_path: Path) -> Iterator[PromptLibrary]:
    made = PromptLibrary(tmp_path / "prompts", render_timeout=10.0)
    yield made
    made.close()


# --- audio helpers --------------------------------------------------------------------


def test_mu_law_round_trip_of_real_speech_keeps_its_level(tmp_path: Path) -> None:
    pcm, rate = read_wav(espeak_wav(tmp_path / "speech.wav", "Please hold while I connect you."))
    assert rate == 22050
    ulaw = pcm16_to_ulaw(pcm)
    assert len(ulaw) == len(pcm) // 2
    back = ulaw_to_pcm16(ulaw)
    assert len(back) == len(pcm)
    assert rms(pcm) > SPEECH_RMS_FLOOR
    assert abs(rms(back) - rms(pcm)) / rms(pcm) < 0.03


def test_mu_law_wav_is_what_sox_and_twilio_read(tmp_path: Path) -> None:
    pcm, rate = read_wav(espeak_wav(tmp_path / "speech.wav", "Thanks for calling."))
    narrow, _ = resample(pcm, rate, 8000)
    ulaw = pcm16_to_ulaw(narrow) + b"\x7f"  # an odd length needs the RIFF pad byte
    target = tmp_path / "prompt.wav"
    write_ulaw_wav(target, ulaw)

    info = soxi(target)
    assert info["Channels"] == "1"
    assert info["Sample Rate"] == "8000"
    assert info["Sample Encoding"] == "8-bit u-law"
    assert f"= {len(ulaw)} samples" in info["Duration"]
    assert read_ulaw_wav(target) == ulaw
    again, again_rate = read_wav(target)
    assert again_rate == 8000 and again == ulaw_to_pcm16(ulaw)


def test_read_wav_converts_stereo_8_bit_and_mu_law_files_made_by_sox(tmp_path: Path) -> None:
    source = espeak_wav(tmp_path / "speech.wav", "I can text a password reset link.")
    pcm, rate = read_wav(source)
    variants = {
        "stereo.wav": ["-c", "2"],
        "unsigned8.wav": ["-b", "8", "-e", "unsigned-integer"],
        "ulaw.wav": ["-r", "8000", "-e", "u-law"],
        "alaw.wav": ["-r", "8000", "-e", "a-law"],
        "pcm24.wav": ["-b", "24"],
        "pcm32.wav": ["-b", "32"],
        "float32.wav": ["-b", "32", "-e", "floating-point"],
    }
    for name, options in variants.items():
        converted = tmp_path / name
        subprocess.run(["sox", str(source), *options, str(converted)], check=True)
        got, got_rate = read_wav(converted)
        assert got_rate == (8000 if "-r" in options else rate), name
        expected_samples = len(pcm) // 2 * got_rate // rate
        assert abs(len(got) // 2 - expected_samples) < got_rate // 100, name
        assert abs(rms(got) - rms(pcm)) / rms(pcm) < 0.1, name


def test_streaming_resample_with_state_matches_one_pass(tmp_path: Path) -> None:
    pcm, _ = read_wav(espeak_wav(tmp_path / "speech.wav", "one two three"))
    narrow, _ = resample(pcm, 22050, 8000)
    whole, _ = resample(narrow, 8000, 16000)
    pieces, state = [], None
    for start in range(0, len(narrow), 320):  # 20 ms chunks, as a media stream sends them
        piece, state = resample(narrow[start : start + 320], 8000, 16000, state)
        pieces.append(piece)
    assert b"".join(pieces) == whole


def test_frames_are_twenty_milliseconds_padded_with_silence() -> None:
    assert FRAME_MS == 20 and ULAW_FRAME_BYTES == 160
    frames = list(ulaw_frames(b"\x00" * 400))
    assert [len(frame) for frame in frames] == [160, 160, 160]
    assert frames[-1][80:] == b"\xff" * 80


# --- which texts are prompts ----------------------------------------------------------


@pytest.fixture(scope="module")
def flow() -> Flow:
    path = BUNDLED_FLOWS / "support.yaml"
    return parse_flow(path.read_text(), str(path))


def test_static_prompts_cover_every_fixed_line_once(flow: Flow) -> None:
    texts = static_prompts(flow)
    assert texts[:2] == first_audio(flow)
    assert texts[0] == flow.disclosure
    assert len({normalise(text) for text in texts}) == len(texts)
    for name, state in flow.states.items():
        for line in (state.ask, state.say, *state.invalid):
            assert line is None or line in texts, name
        if state.kind == "ask":
            reprompts = flow.reprompts_for(name)
            assert set(reprompts.no_input + reprompts.no_match) <= set(texts), name
    assert set(flow.reprompts.no_input + flow.reprompts.no_match) <= set(texts)
    assert set(server_lines()) <= set(texts)
    assert any("leave a short message" in line for line in server_lines())
    assert any("backup line" in line for line in server_lines())


def test_first_audio_is_the_disclosure_and_the_first_question(flow: Flow) -> None:
    assert first_audio(flow) == [flow.disclosure, flow.states[flow.start].ask]


# --- the build command ----------------------------------------------------------------


def build(flows: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        prompts, ["build", "--flows", str(flows), "--out", str(out), *extra]
    )
    return result.exit_code, result.output


def wav_files(folder: Path) -> set[str]:
    return {path.name for path in folder.glob("*.wav")}


@pytest.mark.slow
def test_build_renders_every_prompt_once_then_only_what_changed(tmp_path: Path, flow: Flow) -> None:
    flows, out = tmp_path / "dialogs", tmp_path / "audio_prompts"
    shutil.copytree(BUNDLED_FLOWS, flows)
    count = len(static_prompts(flow))

    code, output = build(flows, out)
    assert code == 0, output
    assert f"{count} rendered, 0 unchanged, 0 failed, 0 removed" in output
    first = wav_files(out)
    assert len(first) == count
    index = json.loads((out / INDEX_FILE).read_text())
    assert sorted(index.values()) == sorted(normalise(text) for text in static_prompts(flow))

    code, output = build(flows, out)
    assert code == 0 and f"0 rendered, {count} unchanged" in output, output

    flow_file = flows / "support.yaml"
    old_line = "Is there anything else I can help you with?"
    flow_file.write_text(flow_file.read_text().replace(old_line, "Can I help with anything else?"))
    code, output = build(flows, out, "--no-prune")
    assert code == 0 and f"1 rendered, {count - 1} unchanged, 0 failed, 0 removed" in output
    assert len(wav_files(out) - first) == 1 and wav_files(out) >= first

    code, output = build(flows, out)
    assert code == 0 and f"0 rendered, {count} unchanged, 0 failed, 1 removed" in output
    assert len(wav_files(out)) == count
    assert old_line not in json.loads((out / INDEX_FILE).read_text()).values()


@pytest.mark.slow
def test_rendered_prompts_are_speech_as_long_as_their_text(tmp_path: Path, flow: Flow) -> None:
    library = PromptLibrary(tmp_path / "prompts")
    texts = static_prompts(flow)
    try:
        report = library.build(texts)
    finally:
        library.close()
    assert report.rendered == len(texts) and not report.failed
    seconds_per_char = []
    for text in texts:
        info = soxi(library.path(text))
        assert (info["Sample Rate"], info["Channels"]) == ("8000", "1")
        assert info["Sample Encoding"] == "8-bit u-law"
        audio = library.audio(text)
        assert audio is not None
        assert rms(ulaw_to_pcm16(audio)) > SPEECH_RMS_FLOOR, text
        seconds_per_char.append(len(audio) / 8000 / len(text))
    # espeak at its default rate says about 15 characters a second.
    assert all(0.03 < ratio < 0.12 for ratio in seconds_per_char), seconds_per_char
    shortest, longest = min(texts, key=len), max(texts, key=len)
    assert len(library.audio(longest) or b"") > 3 * len(library.audio(shortest) or b"")


@pytest.mark.slow
def test_build_fails_loudly_when_the_first_audio_cannot_be_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_HANG_VARIABLE, "automated assistant")  # only the disclosure
    flows, out = tmp_path / "dialogs", tmp_path / "audio_prompts"
    shutil.copytree(BUNDLED_FLOWS, flows)
    code, output = build(flows, out, "--timeout", "1")
    assert code == 1
    assert "1 failed" in output
    assert "the first audio of a call is not rendered" in output


# --- rendering off the request thread -------------------------------------------------


@pytest.mark.slow
def test_render_later_returns_at_once_and_the_file_appears(library: PromptLibrary) -> None:
    text = "Your order 123456 shipped on Monday."
    began = time.monotonic()
    library.render_later(text)
    library.render_later(text)  # queued once
    assert time.monotonic() - began < 0.5
    assert wait_for(lambda: library.has(text), 20)
    assert library.locate(text) == library.cache_directory / f"{library.key(text)}.wav"
    assert not library.path(text).exists()  # on-demand texts stay out of the prompt folder
    assert rms(ulaw_to_pcm16(library.audio(text) or b"")) > SPEECH_RMS_FLOOR


@pytest.mark.slow
def test_a_hung_render_is_killed_and_the_next_one_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_HANG_VARIABLE, "HANG-ME")
    library = PromptLibrary(tmp_path / "prompts", render_timeout=1.0)
    try:
        assert library.render("warm up the worker")
        hung_worker = worker_processes(library)[0]

        began = time.monotonic()
        library.render_later("please HANG-ME now")
        library.render_later("after the hang")
        assert time.monotonic() - began < 0.5  # callers never wait for a render
        assert wait_for(lambda: library.has("after the hang"), 20)
        assert not library.has("please HANG-ME now")
        assert not hung_worker.is_alive()

        began = time.monotonic()
        assert not library.render("HANG-ME again", timeout=1.0)
        assert time.monotonic() - began < 5
        assert library.render("and the one after that works")
    finally:
        library.close()


@pytest.mark.slow
def test_a_crashed_worker_is_replaced(library: PromptLibrary) -> None:
    assert library.render("first")
    (worker,) = worker_processes(library)
    os.kill(worker.pid, signal.SIGKILL)  # type: ignore[arg-type]
    worker.join(5)
    assert library.render("second")
    assert worker_processes(library) and worker_processes(library)[0].pid != worker.pid


@pytest.mark.slow
def test_a_forked_process_starts_its_own_worker_and_leaves_the_parents_alone(
    library: PromptLibrary,
) -> None:
    assert library.render("rendered by the parent")
    (parent_worker,) = worker_processes(library)
    child = os.fork()  # as gunicorn forks its workers
    if child == 0:  # pragma: no cover - runs in the child
        ok = library.render("rendered by the child") and len(worker_processes(library)) == 1
        atexit._run_exitfuncs()  # what a gunicorn worker runs when it exits
        os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert library.has("rendered by the child")
    assert parent_worker.is_alive()
    assert library.render("rendered by the parent again")


@pytest.mark.slow
def test_on_demand_names_do_not_reveal_the_text(tmp_path: Path) -> None:
    library = PromptLibrary(tmp_path / "prompts", cache_secret=b"server secret")
    try:
        text = "Your order 654321 was delivered."
        assert library.render(text)
        served = library.served_key(text)
        assert served is not None and served != library.key(text)
        assert library.file_for_key(served) == library.locate(text)
    finally:
        library.close()


# --- serving --------------------------------------------------------------------------


@pytest.mark.slow
def test_blueprint_serves_prompts_cacheable_forever_and_nothing_else(
    library: PromptLibrary,
) -> None:
    from ivr.web.prompts import prompts as prompts_blueprint

    library.build(["Thanks for calling. Goodbye."])
    app = Flask(__name__)
    app.extensions["ivr"] = SimpleNamespace(prompts=library)  # all the blueprint reads
    app.register_blueprint(prompts_blueprint)
    client = app.test_client()
    key = library.key("Thanks for calling. Goodbye.")

    response = client.get(f"/prompts/{key}.wav")
    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    assert response.data == library.path("Thanks for calling. Goodbye.").read_bytes()
    cache_control = {part.strip() for part in response.headers["Cache-Control"].split(",")}
    assert {"public", "max-age=31536000", "immutable"} <= cache_control
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")

    again = client.get(f"/prompts/{key}.wav", headers={"If-None-Match": etag})
    assert again.status_code == 304

    (library.directory / "secret.txt").write_text("not audio")
    for path in (
        "/prompts/0123456789abcdef01234567.wav",  # well-formed, unknown
        f"/prompts/{key.upper()}.wav",
        "/prompts/..%2Fsecret.txt.wav",
        "/prompts/..%2F..%2Fetc%2Fpasswd.wav",
        "/prompts/../prompts/secret.wav",
        "/prompts/index.wav",
        f"/prompts/{key}.txt",
    ):
        assert client.get(path).status_code == 404, path


def test_committed_prompts_cover_every_static_prompt_of_the_bundled_flows(flow: Flow) -> None:
    library = PromptLibrary(ROOT / "audio_prompts")
    missing = [text for text in static_prompts(flow) if not library.has(text)]
    assert not missing, f"run `ivr prompts build`; not rendered: {missing[:3]}"


def test_twiml_mode_plays_prerendered_prompts_and_says_the_rest(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ElementTree

    from conftest import make_settings

    from ivr.testing.simulated_call import SimulatedCall, flask_post
    from ivr.web import create_app

    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for wav in (ROOT / "audio_prompts").glob("*.wav"):  # the committed ones, no cache
        shutil.copy(wav, prompts)
    settings = make_settings(f"sqlite:///{tmp_path / 'db.sqlite3'}", tts="pyttsx3",
                             prompts_dir=prompts)
    app = create_app(settings)
    call = SimulatedCall(flask_post(app.test_client()), auth_token=settings.auth_token,
                         public_url=settings.public_url)
    root = ElementTree.fromstring(call.start().twiml)
    disclosure = root[0]
    assert disclosure.tag == "Play"
    assert disclosure.text.startswith("https://ivr.example.com/prompts/")
    assert root.find("Gather/Play") is not None, "the question stays inside the Gather"
    served = app.test_client().get(disclosure.text.removeprefix("https://ivr.example.com"))
    assert served.status_code == 200 and served.data[:4] == b"RIFF"
    answer = ElementTree.fromstring(call.press("3").twiml)  # opening hours: depends on the clock
    assert answer.find("Say") is not None, "text rendered on demand is said until it exists"
