"""rtkit.audio: PCM16 conversions, WAV files, durations, AudioBuffer."""

from __future__ import annotations

import base64
import wave
from pathlib import Path

import numpy as np
import pytest

from rtkit.audio import (
    SAMPLE_RATE,
    AudioBuffer,
    base64_sample_count,
    base64_to_int16,
    float32_to_int16,
    int16_to_base64,
    int16_to_float32,
    ms_to_samples,
    read_wav,
    samples_to_ms,
    wav_header,
    write_wav,
)


def test_base64_round_trip_little_endian() -> None:
    x = np.array([0, 1, -1, 32767, -32768, 258], dtype=np.int16)
    b64 = int16_to_base64(x)
    assert base64.b64decode(b64)[:4] == b"\x00\x00\x01\x00"
    assert base64.b64decode(b64)[-2:] == b"\x02\x01"  # 258 = 0x0102, little-endian
    y = base64_to_int16(b64)
    assert y.dtype == np.int16
    np.testing.assert_array_equal(y, x)
    y[0] = 5  # decoded arrays are writable copies
    assert base64_to_int16("").size == 0


def test_int16_to_base64_encodes_exactly_the_given_samples() -> None:
    """SEED fix 9: a slice never leaks the rest of its backing buffer."""
    big = np.arange(100, dtype=np.int16)
    part = big[10:13]
    assert base64.b64decode(int16_to_base64(part)) == part.tobytes()
    assert len(base64.b64decode(int16_to_base64(big[::2]))) == 100
    np.testing.assert_array_equal(base64_to_int16(int16_to_base64(big[::2])), big[::2])
    mv = memoryview(big.tobytes())[4:8]
    assert base64.b64decode(int16_to_base64(mv)) == bytes(mv)
    assert base64.b64decode(int16_to_base64(bytearray(b"\x01\x00"))) == b"\x01\x00"
    with pytest.raises(ValueError):
        int16_to_base64(b"\x01")


def test_big_endian_input_is_encoded_little_endian() -> None:
    x = np.array([1, 2], dtype=">i2")
    assert base64.b64decode(int16_to_base64(x)) == b"\x01\x00\x02\x00"


def test_float32_to_int16_matches_seed_truncation_and_clamping() -> None:
    x = np.array([-2.0, -1.0, -0.5, -1e-9, 0.0, 0.3, 0.5, 1.0, 3.0], dtype=np.float32)
    expected = [
        int(max(-1, min(1, float(s))) * (0x8000 if s < 0 else 0x7FFF)) for s in x
    ]
    np.testing.assert_array_equal(float32_to_int16(x), np.array(expected, dtype=np.int16))
    assert float32_to_int16([0.5])[0] == 16383  # truncated, not rounded (16383.5)
    assert float32_to_int16([-0.00002])[0] == 0  # toward zero


def test_float_arrays_are_converted_when_encoding() -> None:
    f = np.array([0.5, -0.5], dtype=np.float32)
    np.testing.assert_array_equal(base64_to_int16(int16_to_base64(f)), [16383, -16384])


def test_int16_to_float32_range() -> None:
    y = int16_to_float32(np.array([-32768, 0, 16384], dtype=np.int16))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [-1.0, 0.0, 0.5])


def test_base64_sample_count_is_the_decoded_length() -> None:
    for n in (0, 1, 2, 3, 2400, 2401):
        b64 = int16_to_base64(np.arange(n, dtype=np.int16))
        assert base64_sample_count(b64) == n == len(base64_to_int16(b64))
        assert base64_sample_count(b64.rstrip("=")) == n  # unpadded: decoded to count


def test_wav_round_trip(tmp_path: Path) -> None:
    x = (np.arange(4800) % 300 - 150).astype(np.int16)
    p = tmp_path / "a.wav"
    write_wav(p, x)
    y, rate = read_wav(p)
    assert rate == SAMPLE_RATE
    np.testing.assert_array_equal(y, x)
    write_wav(str(p), x, rate=8000)
    assert read_wav(str(p))[1] == 8000


def test_wav_header_is_the_header_write_wav_writes(tmp_path: Path) -> None:
    x = (np.arange(2401) % 50 - 25).astype(np.int16)
    for rate in (SAMPLE_RATE, 8000):
        p = tmp_path / f"{rate}.wav"
        write_wav(p, x, rate=rate)
        data = p.read_bytes()
        assert data[:44] == wav_header(len(x), rate)
        assert data[44:] == x.astype("<i2").tobytes()


def test_read_wav_rejects_other_formats(tmp_path: Path) -> None:
    p = tmp_path / "stereo.wav"
    with wave.open(str(p), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(24000)
        w.writeframes(b"\x00" * 8)
    with pytest.raises(ValueError, match=r"stereo\.wav.*mono 16-bit.*2 channel"):
        read_wav(p)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav file at all")
    with pytest.raises(ValueError, match=r"junk\.wav"):
        read_wav(junk)


def test_durations() -> None:
    assert samples_to_ms(2400) == 100.0
    assert ms_to_samples(100) == 2400
    assert ms_to_samples(150) == 3600
    assert ms_to_samples(0.05) == 1  # floor(1.2)
    assert samples_to_ms(8000, rate=8000) == 1000.0


def test_audio_buffer_appends_and_views() -> None:
    b = AudioBuffer()
    assert len(b) == 0 and b.view().size == 0
    b.append(np.arange(3, dtype=np.int16))
    v = b.view()
    b.append(np.arange(3, 10000, dtype=np.int16))  # forces growth
    b.append(b"\x05\x00")
    assert len(b) == 10001
    np.testing.assert_array_equal(v, [0, 1, 2])
    np.testing.assert_array_equal(b.view()[:10000], np.arange(10000))
    assert b.view()[-1] == 5
    with pytest.raises(ValueError):
        b.view()[0] = 1  # views are read-only: they share storage


def test_audio_buffer_growth_is_amortised() -> None:
    b = AudioBuffer()
    reallocs = 0
    last = None
    chunk = np.zeros(2400, dtype=np.int16)
    for _ in range(2000):
        b.append(chunk)
        base = b.view().base
        if base is not last:
            reallocs += 1
            last = base
    assert len(b) == 4_800_000
    assert reallocs <= 15  # doubling: log2(4.8M / 4096) ~ 11


def test_audio_buffer_truncate() -> None:
    b = AudioBuffer(np.arange(100, dtype=np.int16))
    before = b.view()
    b.truncate(10)
    assert len(b) == 10
    b.append(np.full(5, -1, dtype=np.int16))
    np.testing.assert_array_equal(b.view(), [*range(10), -1, -1, -1, -1, -1])
    np.testing.assert_array_equal(before, np.arange(100))  # old views keep their samples
    b.truncate(1000)
    assert len(b) == 15
    with pytest.raises(ValueError):
        b.truncate(-1)


def test_append_base64_returns_new_samples() -> None:
    b = AudioBuffer(np.arange(3, dtype=np.int16))
    new = b.append_base64(int16_to_base64(np.array([7, -8], dtype=np.int16)))
    np.testing.assert_array_equal(new, [7, -8])
    np.testing.assert_array_equal(b.view(), [0, 1, 2, 7, -8])
    assert b.append_base64("").size == 0 and len(b) == 5


@pytest.mark.parametrize("fast", [True, False])
def test_base64_with_and_without_pybase64(fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    import rtkit.audio as audio

    if fast and audio._pybase64 is None:
        pytest.skip("pybase64 not installed")
    if not fast:
        monkeypatch.setattr(audio, "_pybase64", None)
    x = np.array([1, -2, 300], dtype=np.int16)
    b64 = int16_to_base64(x)
    assert b64 == base64.b64encode(x.tobytes()).decode()
    np.testing.assert_array_equal(base64_to_int16(b64), x)
    # lenient like the stdlib: embedded newlines are skipped
    np.testing.assert_array_equal(base64_to_int16(b64[:4] + "\n" + b64[4:]), x)
    ro = base64_to_int16(b64, copy=False)
    assert not ro.flags.writeable


def test_append_base64_samples_keep_their_values_through_growth_and_truncation() -> None:
    b = AudioBuffer()
    first = b.append_base64(int16_to_base64(np.arange(3000, dtype=np.int16)))  # grows storage
    later = b.append_base64(int16_to_base64(np.full(5000, -2, dtype=np.int16)))  # grows again
    assert not first.flags.writeable
    b.truncate(1000)
    b.append_base64(int16_to_base64(np.full(4000, 9, dtype=np.int16)))
    assert np.array_equal(first, np.arange(3000, dtype=np.int16))
    assert np.array_equal(later, np.full(5000, -2, dtype=np.int16))
    assert np.array_equal(b.view()[1000:], np.full(4000, 9, dtype=np.int16))


def test_append_base64_ignores_an_odd_trailing_byte() -> None:
    b = AudioBuffer([1])
    raw = np.array([300, -300], dtype="<i2").tobytes() + b"\x7f"
    new = b.append_base64(base64.b64encode(raw).decode())
    assert new.tolist() == [300, -300] and b.view().tolist() == [1, 300, -300]
