"""The recorder's interleaver: the two tracks in capture-time order, a stop after its sound,
and nothing held for ever (the microphone gone, the camera stopped, the pipeline closing)."""

from __future__ import annotations

from device.pipeline.audio import AudioFlushed, AudioPacket, SetMuted
from device.pipeline.commands import AddMarker, StopRecording
from device.pipeline.interleave import HOLD_S, Interleaver
from hal.encoder import EncodedPacket


def video(t: float, key: bool = False) -> EncodedPacket:
    return EncodedPacket(b"v", round(t * 30), key, t, 1e9 + t)


def audio(t: float) -> AudioPacket:
    return AudioPacket(b"a", t, 1024, 48000)


def times(items: list[object]) -> list[tuple[str, float]]:
    return [("v" if isinstance(x, EncodedPacket) else "a", round(x.t_mono, 4))
            for x in items if isinstance(x, EncodedPacket | AudioPacket)]


def test_video_waits_for_the_sound_of_its_moment() -> None:
    ilv = Interleaver()
    assert ilv.take(video(1.0, key=True)) == []
    assert ilv.take(video(1.0 + 1 / 30)) == []
    out = ilv.take(audio(0.99))  # covers 0.99 .. 1.0113
    assert times(out) == [("a", 0.99), ("v", 1.0)]
    out = ilv.take(audio(0.99 + 1024 / 48000))  # up to 1.0327: not yet the next frame's
    assert times(out) == [("a", 1.0113)]
    out = ilv.take(audio(0.99 + 2048 / 48000))
    assert times(out) == [("a", 1.0327), ("v", 1.0333)]  # in capture-time order


def test_without_sound_video_is_held_no_longer_than_hold_s() -> None:
    ilv = Interleaver()
    released: list[object] = []
    t = 0.0
    while t < 2.0:
        released += ilv.take(video(t))
        t += 1 / 30
    assert released and all(2.0 - x.t_mono <= HOLD_S + 1 / 30 for x in ilv.drain())


def test_a_stop_waits_for_the_drained_sound_then_goes_with_what_was_before_it() -> None:
    ilv = Interleaver()
    early = ilv.take(audio(0.0))
    for i in range(5):
        early += ilv.take(video(i / 30))
    assert times(early) == [("a", 0.0), ("v", 0.0)]
    stop = StopRecording(1e9)
    assert stop not in ilv.take(stop)
    after = ilv.take(video(5 / 30))  # captured after the stop: stays after it
    assert after == []
    out = ilv.take(audio(1024 / 48000)) + ilv.take(AudioFlushed(0.2))
    assert stop in out
    before = out[:out.index(stop)]
    assert len([x for x in before if isinstance(x, EncodedPacket)]) == 4
    assert not any(isinstance(x, EncodedPacket) and x.t_mono > 0.16 for x in before)


def test_the_camera_stopped_and_no_more_sound_the_stop_still_goes() -> None:
    """Found: at shutdown the microphone stops with the camera, so no later sound releases the
    frames before the stop; the drain at the stop must."""
    ilv = Interleaver()
    for i in range(10):
        ilv.take(video(i / 30))
    stop = StopRecording(1e9)
    ilv.take(stop)
    out = ilv.take(AudioFlushed(10 / 30))
    assert out[-1] is stop and len(out) == 11


def test_commands_keep_their_place_and_drain_releases_everything() -> None:
    ilv = Interleaver()
    ilv.take(video(0.0))
    marker = AddMarker(0.01, "u", "n")
    assert ilv.take(marker)[-1] is marker  # what came before goes first
    ilv.take(video(0.1))
    mute = SetMuted(True, 0.05, "u")
    assert ilv.take(mute) == [mute]
    assert times(ilv.drain()) == [("v", 0.1)]
    assert ilv.drain() == []
