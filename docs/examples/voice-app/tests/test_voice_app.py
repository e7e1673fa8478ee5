"""voice-app's tests: the app is called as it is, and rtkit intercepts its connection to the
Realtime API. Both tests ask the same question, so they share one cassette:
tests/cassettes/test_voice_app/weather_turn.jsonl."""

import os

import numpy as np
import pytest
from openai import AsyncOpenAI

from rtkit.assertions import rt_conversation
from voice_app import main, talk
from voice_app.cli import read_wav, write_wav

pytestmark = pytest.mark.rtkit(cassette="weather_turn")


@pytest.fixture
def question() -> bytes:
    """A second of 'speech' (a tone: the fake's script says what it means)."""
    t = np.arange(24000) / 24000
    return (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes()


async def test_a_spoken_question_gets_a_spoken_answer(question, rt_cassette):
    client = AsyncOpenAI(api_key="placeholder")  # rtkit holds the real key when recording
    reply = await talk(client, question)
    assert reply.tool_calls == [("get_weather", {"location": "Paris"})]
    assert reply.transcript == "It is sunny in Paris, 21 degrees."
    assert len(reply.audio) / 2 / 24000 > 1  # seconds of speech
    (rt_conversation(rt_cassette).expect       # what crossed the wire, both ways
        .no_errors()
        .function_call_output("get_weather", output={"sky": "sunny"})
        .assistant_said("sunny", source="transcript"))


def test_the_command_line(question, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", os.environ.get("OPENAI_API_KEY", "placeholder"))
    asked, answer = str(tmp_path / "question.wav"), str(tmp_path / "answer.wav")
    write_wav(asked, question)
    main([asked, answer])
    assert capsys.readouterr().out.splitlines() == [
        "(called get_weather with {'location': 'Paris'})",
        "assistant: It is sunny in Paris, 21 degrees. (1.5 s)",
    ]
    assert len(read_wav(answer)) == 1.5 * 24000 * 2
