"""Clips synthesised in the tests: drum patterns at a known tempo, a bright or a dark timbre, loud or quiet, in
a major or a minor key, encoded as the services send them (MP3 for Deezer, AAC in MP4 for iTunes).

Each clip is a little piece of music rather than a metronome: a kick on every beat, a snare on 2 and 4, hi-hats
on the off-beats (quiet, as in real mixes) and a sustained chord, so a tempo estimator meets the beat-level
ambiguity real tracks have (the off-beat hats pull towards double time)."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

SR = 44100   # what the services' previews carry


@dataclass(frozen=True)
class ClipSpec:
    bpm: float = 120.0
    pattern: str = "backbeat"  # backbeat (kick 1/3, snare 2/4, off-beat hats) | four (kick every beat, 8th hats)
    #                            | click (a plain metronome)
    bright: bool = True       # a bright timbre (high partials, open hats) or a dark one (low, muffled)
    loud: bool = True
    major: bool = True
    seconds: float = 30.0
    seed: int = 0


def _env(n: int, decay: float, sr: int) -> np.ndarray:
    return np.exp(-np.arange(n) / sr * decay).astype(np.float32)


def synth(spec: ClipSpec, sr: int = SR) -> np.ndarray:
    """The clip as float32 mono samples at ``sr``."""
    rng = np.random.default_rng(spec.seed)
    n = int(spec.seconds * sr)
    y = np.zeros(n, np.float32)
    beat = 60.0 / spec.bpm
    k_len = int(0.25 * sr)
    t = np.arange(k_len) / sr
    kick = (np.sin(2 * np.pi * (50 + 90 * np.exp(-t * 30)) * t) * _env(k_len, 18, sr)).astype(np.float32)
    snare = (rng.standard_normal(k_len).astype(np.float32) * _env(k_len, 25, sr) * 0.6
             + np.sin(2 * np.pi * 190 * t).astype(np.float32) * _env(k_len, 30, sr) * 0.4)
    hat_len = int(0.05 * sr)
    hat = rng.standard_normal(hat_len).astype(np.float32) * _env(hat_len, 80, sr) * 0.25
    if not spec.bright:   # muffled: the noise through a crude low-pass
        snare = np.convolve(snare, np.ones(32, np.float32) / 32, mode="same")
        hat = np.convolve(hat, np.ones(64, np.float32) / 64, mode="same") * 0.5
    else:
        hat = np.diff(hat, prepend=0).astype(np.float32) * 2.0   # emphasise the highs
    start = int(rng.uniform(0.0, beat) * sr)   # the clip starts somewhere in a bar
    i = 0
    while True:
        at = start + int(round(i * beat * sr))
        if at >= n:
            break
        drum = snare if (i % 2 == 1 and spec.pattern == "backbeat") else kick
        if spec.pattern == "click":
            drum = hat * 3
        m = min(len(drum), n - at)
        y[at:at + m] += drum[:m]
        hats = [] if spec.pattern == "click" else [0.5] if spec.pattern == "backbeat" else [0.0, 0.5]
        for h in hats:
            off = at + int(round(beat * sr * h))
            if off < n:
                m = min(hat_len, n - off)
                y[off:off + m] += hat[:m]
        i += 1
    # a sustained chord: root, third (major or minor), fifth; bright = more and higher partials
    root = 220.0 * 2 ** (rng.integers(0, 12) / 12)
    third = root * 2 ** ((4 if spec.major else 3) / 12)
    fifth = root * 2 ** (7 / 12)
    tt = np.arange(n) / sr
    partials = (1, 2, 4, 8) if spec.bright else (1, 2)   # octaves: the pitch classes stay the chord's
    chord = np.zeros(n, np.float32)
    for f in (root, third, fifth):
        for h in partials:
            chord += (np.sin(2 * np.pi * f * h * tt) / h ** (0.5 if spec.bright else 2.0)).astype(np.float32)
    y += 0.15 * chord / len(partials) ** 0.5
    y /= max(float(np.abs(y).max()), 1e-9)
    if spec.loud:   # mastered loud: saturated, a small crest factor
        y = np.tanh(3.0 * y) / np.tanh(3.0)
    y = (y * (0.95 if spec.loud else 0.1)).astype(np.float32)
    return y


def mp3(spec: ClipSpec, sr: int = SR) -> bytes:
    """The clip as a 128 kbit/s stereo MP3 (what Deezer's previews are)."""
    import lameenc

    y = synth(spec, sr)
    pcm = (np.clip(y, -1, 1) * 32767).astype(np.int16)
    stereo = np.repeat(pcm[:, None], 2, axis=1)
    enc = lameenc.Encoder()
    enc.set_bit_rate(128)
    enc.set_in_sample_rate(sr)
    enc.set_channels(2)
    enc.set_quality(7)
    return bytes(enc.encode(stereo.tobytes()) + enc.flush())


def m4a(spec: ClipSpec, sr: int = SR) -> bytes:
    """The clip as AAC in an MP4 container (what iTunes' previews are), encoded with FFmpeg's own AAC encoder."""
    import av

    y = synth(spec, sr)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("aac", rate=sr)
        stream.layout = "mono"   # type: ignore[attr-defined]
        frame_len = 1024
        for i in range(0, len(y), frame_len):
            chunk = y[i:i + frame_len][None, :]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="flt", layout="mono")
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()
