"""rtkit.audio's phone formats and sample rules (issue 22): G.711 μ-law / A-law with lookup
tables, `AudioFormat` at each format's own rate, and what every audio entry point accepts."""

from __future__ import annotations

import base64
import warnings

import numpy as np
import pytest

from rtkit.audio import (
    G711_ALAW,
    G711_ULAW,
    PCM16,
    alaw_to_int16,
    audio_format,
    int16_to_alaw,
    int16_to_base64,
    int16_to_ulaw,
    merge_int16_arrays,
    to_int16,
    ulaw_to_int16,
)

ALL_CODES = bytes(range(256))
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)


def test_g711_decodes_the_itu_reference_values() -> None:
    # μ-law: 0xFF and 0x7F are the two zeros, 0x80 / 0x00 the extremes (±32124)
    assert ulaw_to_int16(b"\xff\x7f\x80\x00").tolist() == [0, 0, 32124, -32124]
    # A-law: 0xD5 / 0x55 the smallest steps (±8), 0xAA / 0x2A the extremes (±32256)
    assert alaw_to_int16(b"\xd5\x55\xaa\x2a").tolist() == [8, -8, 32256, -32256]
    assert ulaw_to_int16(b"").dtype == np.int16 and ulaw_to_int16(b"").size == 0


@pytest.mark.parametrize(("encode", "decode"), [(int16_to_ulaw, ulaw_to_int16),
                                                (int16_to_alaw, alaw_to_int16)])
def test_g711_encoding_is_the_nearest_code_and_round_trips(encode, decode) -> None:  # type: ignore[no-untyped-def]
    levels = decode(ALL_CODES)
    # every code's value encodes back to a code of the same value
    assert np.array_equal(decode(encode(levels)), levels)
    # every int16 sample lands on a neighbouring level (monotonic, sign kept)
    coded = decode(encode(ALL_INT16)).astype(np.int32)
    assert np.all(np.diff(coded) >= 0)
    assert np.all(np.sign(coded[ALL_INT16 > 256]) == 1)
    assert np.all(np.sign(coded[ALL_INT16 < -256]) == -1)
    error = np.abs(coded - ALL_INT16.astype(np.int32))
    assert error.max() <= 1100  # the widest segment's half step (μ-law 1024, A-law 1024 + bias)


def test_g711_matches_the_stdlib_codec_where_python_still_ships_it() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # removed in Python 3.13
    pcm = ALL_INT16.astype("<i2").tobytes()
    assert int16_to_ulaw(ALL_INT16) == audioop.lin2ulaw(pcm, 2)
    assert int16_to_alaw(ALL_INT16) == audioop.lin2alaw(pcm, 2)
    assert ulaw_to_int16(ALL_CODES).astype("<i2").tobytes() == audioop.ulaw2lin(ALL_CODES, 2)
    assert alaw_to_int16(ALL_CODES).astype("<i2").tobytes() == audioop.alaw2lin(ALL_CODES, 2)


def test_one_second_of_mulaw_is_8000_samples_and_1000_ms() -> None:
    t = np.arange(8000) / 8000
    wire = G711_ULAW.encode_base64(0.5 * np.sin(2 * np.pi * 440 * t))
    assert len(base64.b64decode(wire)) == 8000  # one byte a sample
    samples = G711_ULAW.decode_base64(wire)
    assert samples.dtype == np.int16 and len(samples) == 8000
    assert G711_ULAW.samples_to_ms(len(samples)) == 1000
    assert PCM16.samples_to_ms(len(samples)) == 333  # what decoding it as PCM16 gave
    assert 15_000 < np.abs(samples).max() < 17_000  # 0.5 full scale survives the codec
    assert G711_ALAW.decode(G711_ALAW.encode(samples)).shape == (8000,)


def test_audio_format_reads_beta_names_and_ga_objects() -> None:
    assert audio_format(None) is PCM16 and audio_format("pcm16") is PCM16
    assert audio_format({"type": "audio/pcm", "rate": 24000}) is PCM16
    assert audio_format({"type": "audio/pcmu"}) is G711_ULAW is audio_format("g711_ulaw")
    assert audio_format({"type": "audio/pcma"}) is G711_ALAW is audio_format("g711_alaw")
    assert G711_ULAW.ga == {"type": "audio/pcmu"} and PCM16.ga == {"type": "audio/pcm",
                                                                   "rate": 24000}
    with pytest.raises(ValueError, match="16000"):
        audio_format({"type": "audio/pcm", "rate": 16000})
    with pytest.raises(ValueError, match="'opus'"):
        audio_format("opus")


def test_every_sample_type_has_one_rule() -> None:
    sine = (0.5 * np.sin(np.linspace(0, 2 * np.pi, 480))).astype(np.float32)
    assert np.abs(to_int16(sine)).max() == 16383  # float32: scaled, not cast to zeros
    assert to_int16(sine.astype(np.float64)).tolist() == to_int16(sine).tolist()
    assert to_int16(np.array([2.0, -2.0])).tolist() == [32767, -32768]  # clipped
    ints = np.array([1, -2], dtype=np.int16)
    assert to_int16(ints) is ints  # int16 as it is
    assert to_int16(sine.reshape(-1, 1)).shape == (480,)  # sounddevice's (frames, 1)
    assert to_int16(b"\x01\x00\xff\xff").tolist() == [1, -1]
    assert to_int16([1, 2]).dtype == np.int16  # a list of ints: its values
    for bad in (np.zeros(3, np.int32), np.zeros(3, np.uint8), np.zeros(3, bool)):
        with pytest.raises(TypeError, match=str(bad.dtype)):
            to_int16(bad)
    with pytest.raises(TypeError, match="int32"):
        int16_to_base64(np.zeros(3, np.int32))  # the encoders use the same rule
    with pytest.raises(ValueError, match="mono"):
        to_int16(np.zeros((10, 2), np.float32))


def test_merge_int16_arrays_like_the_seed() -> None:
    merged = merge_int16_arrays(np.array([1, 2], np.int16), b"\x03\x00")
    assert merged.dtype == np.int16 and merged.tolist() == [1, 2, 3]
