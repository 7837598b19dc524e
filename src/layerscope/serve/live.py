"""Live mode: camera frames arrive over a websocket; only the newest waiting frame is kept.

Back-pressure on both ends: the page sends its next frame only when the previous answer came, and
the server holds one waiting frame at most (a newer one replaces it and counts as dropped), so
frames never queue up however slow the model is.

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


def _settings(text: str, current: dict[str, Any]) -> dict[str, Any]:
    try:
        given = json.loads(text)
    except ValueError:
        return current
    if not isinstance(given, dict):
        return current
    return {**current, **{k: given[k] for k in ("layer", "channels") if isinstance(given.get(k), int)}}


async def live_session(websocket: Any, explorer: Any) -> None:
    """Serve one live session until the page disconnects: settings as JSON text, frames as binary."""
    from starlette.concurrency import run_in_threadpool
    from starlette.websockets import WebSocketDisconnect

    await websocket.accept()
    slot, settings = LatestFrame(), {"layer": 0, "channels": 16}

    async def receive() -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    slot.put(message["bytes"])
                elif message.get("text") is not None:
                    settings.update(_settings(message["text"], settings))
        finally:
            slot.close()

    async def work() -> None:
        while (frame := await slot.get()) is not None:
            try:
                result = await run_in_threadpool(explorer.live_frame, frame, settings["layer"], settings["channels"])
            except LayerscopeError as err:
                result = {"error": str(err)}
            except Exception:  # a bug: tell the page, keep the traceback in the server's log
                logging.getLogger("layerscope.serve").exception("live frame failed")
                result = {"error": "internal error in layerscope; the server's log has the traceback"}
            result.update(frame=slot.taken, dropped=slot.dropped)
            try:
                await websocket.send_text(json.dumps(result))
            except (WebSocketDisconnect, RuntimeError):
                return

    worker = asyncio.ensure_future(work())
    try:
        await receive()
    finally:
        worker.cancel()
        try:
            await worker
        except asyncio.CancelledError:
            pass
