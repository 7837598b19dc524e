"""The one-frame mailbox of live mode: the newest frame wins, nothing queues, closing wakes the reader."""

from __future__ import annotations

import asyncio

from layerscope.serve.live import LatestFrame


def test_newest_frame_wins_and_the_rest_are_counted():
    async def run():
        slot = LatestFrame()
        slot.put(b"a")
        first = await slot.get()
        for frame in (b"b", b"c", b"d"):
            slot.put(frame)
        return first, await slot.get(), slot.dropped, slot.taken

    assert asyncio.run(run()) == (b"a", b"d", 2, 2)


def test_a_waiting_reader_gets_the_next_frame_or_none_when_closed():
    async def run():
        slot = LatestFrame()
        waiting = asyncio.ensure_future(slot.get())
        await asyncio.sleep(0)
        slot.put(b"x")
        got = await waiting
        closing = asyncio.ensure_future(slot.get())
        await asyncio.sleep(0)
        slot.close()
        return got, await closing

    assert asyncio.run(run()) == (b"x", None)
