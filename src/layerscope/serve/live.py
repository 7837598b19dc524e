"""Live mode: camera frames arrive over a websocket; only the newest waiting frame is kept.

Back-pressure on both ends: the page keeps at most two frames in flight (it sends the next one when
an answer comes), and the server holds one waiting frame at most (a newer one replaces it and counts
as dropped), so frames never queue up however slow the model is. The two in flight keep the model
busy: while one frame's forward runs, the previous frame's reply is encoded (off the event loop) and
sent, and the next frame is already waiting, so neither the encoding nor the round trip to the page
stands between two forwards.

>>> import asyncio
>>> async def demo():
...     slot = LatestFrame()
...     for frame in (b"1", b"2", b"3"):
...         slot.put(frame)
...     return await slot.get(), slot.dropped
>>> asyncio.run(demo())
(b'3', 2)
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Optional

from ..errors import LayerscopeError

__all__ = ["LatestFrame", "live_session"]


class LatestFrame:
    """A one-frame mailbox: ``put`` replaces a frame still waiting (counted in ``dropped``), ``get`` waits."""

    def __init__(self) -> None:
        self.frame: Optional[bytes] = None
        self.dropped = 0
        self.taken = 0
        self.closed = False
        self._ready = asyncio.Event()

    def put(self, frame: bytes) -> None:
        if self.frame is not None:
            self.dropped += 1
        self.frame = frame
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def get(self) -> Optional[bytes]:
        """The newest frame, or None once closed."""
        while self.frame is None and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        frame, self.frame = self.frame, None
        if frame is not None:
            self.taken += 1
        return None if self.closed else frame


_SETTINGS = {"layer": 0, "channels": 1}  # each live setting and its smallest value


def _settings(text: str, current: dict[str, Any]) -> tuple[dict[str, Any], Optional[str]]:
    """The live settings after one text message, and an error for the page when the message is malformed.

    >>> _settings('{"layer": 2}', {"layer": 0, "channels": 16})
    ({'layer': 2, 'channels': 16}, None)
    >>> _settings('{"layer": "conv1"}', {"layer": 0, "channels": 16})[1]
    'live setting "layer" must be a whole number >= 0, got "conv1"; the settings stay {"layer": 0, "channels": 16}'
    """
    keep = json.dumps(current)
    try:
        given = json.loads(text)
    except ValueError:
        return current, f"live settings must be JSON such as {keep}, got {text[:60]!r}; the settings stay {keep}"
    if not isinstance(given, dict):
        return current, f"live settings must be a JSON object such as {keep}, got {text[:60]!r}; the settings stay {keep}"
    unknown = sorted(set(given) - set(_SETTINGS))
    if unknown:
        return current, (f"unknown live setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"accepted: {', '.join(_SETTINGS)}; the settings stay {keep}")
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < _SETTINGS[key]:
            return current, (f"live setting {json.dumps(key)} must be a whole number >= {_SETTINGS[key]}, got "
                             f"{json.dumps(value)[:40]}; the settings stay {keep}")
    return {**current, **given}, None


async def live_session(websocket: Any, explorer: Any) -> None:
    """Serve one live session until the page disconnects: settings as JSON text, frames as binary."""
    from starlette.concurrency import run_in_threadpool
    from starlette.websockets import WebSocketDisconnect

    await websocket.accept()
    slot, settings = LatestFrame(), {"layer": 0, "channels": 16}
    sending = asyncio.Lock()  # the reader (errors) and the worker (frames) both answer

    async def send(reply: dict[str, Any]) -> bool:
        try:
            async with sending:
                await websocket.send_text(json.dumps(reply))
            return True
        except (WebSocketDisconnect, RuntimeError):
            return False

    async def receive() -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    slot.put(message["bytes"])
                elif message.get("text") is not None:
                    changed, error = _settings(message["text"], settings)
                    settings.update(changed)
                    if error is not None and not await send({"error": error, "settings": dict(settings)}):
                        return
        finally:
            slot.close()

    async def answer(job: Any, taken: int, dropped: int) -> bool:
        """Encode one captured frame's reply in a worker thread (or pass an error on) and send it."""
        try:
            result = job if isinstance(job, dict) else await run_in_threadpool(explorer.live_reply, job)
        except Exception:  # a bug: tell the page, keep the traceback in the server's log
            logging.getLogger("layerscope.serve").exception("live reply failed")
            result = {"error": "internal error in layerscope; the server's log has the traceback"}
        result.update(frame=taken, dropped=dropped)
        return await send(result)

    async def work() -> None:
        replying: Optional[asyncio.Future] = None  # the previous frame's reply, encoded while this forward runs
        try:
            while (frame := await slot.get()) is not None:
                taken, dropped = slot.taken, slot.dropped
                try:
                    job: Any = await run_in_threadpool(explorer.live_capture, frame, settings["layer"],
                                                       settings["channels"])
                except LayerscopeError as err:
                    job = {"error": str(err)}
                except Exception:  # a bug: tell the page, keep the traceback in the server's log
                    logging.getLogger("layerscope.serve").exception("live frame failed")
                    job = {"error": "internal error in layerscope; the server's log has the traceback"}
                if replying is not None and not await replying:  # replies go out in order; the page left
                    return
                replying = asyncio.ensure_future(answer(job, taken, dropped))
            if replying is not None:
                await replying
        finally:
            if replying is not None and not replying.done():
                replying.cancel()

    worker = asyncio.ensure_future(work())
    try:
        await receive()
    finally:
        worker.cancel()
        try:
            await worker
        except asyncio.CancelledError:
            pass
