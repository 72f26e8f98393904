"""A control plane on a background thread of this process, for `meshveil demo` and the
benches: the same `ControlPlane` `meshveil serve` runs, with its own event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from controlplane.api.runtime import ControlPlane, Extras
from controlplane.config import ServiceConfig

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


class PlaneStartError(RuntimeError):
    """The control plane did not start; the message says why."""


@contextmanager
def plane_in_thread(config: ServiceConfig, extras: Extras | None = None) -> Iterator[ControlPlane]:
    """Starts the plane, yields it once REST and ECDS listen, stops it on exit."""
    plane = ControlPlane(config, extras)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(plane.start())
        except BaseException as error:  # reported to the starting thread, which re-raises it
            failure.append(error)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="meshveil-control-plane", daemon=True)
    thread.start()
    if not started.wait(START_TIMEOUT_SECONDS):
        raise PlaneStartError(f"the control plane did not start within {START_TIMEOUT_SECONDS:.0f} s")
    if failure:
        loop.close()
        raise PlaneStartError(f"the control plane did not start: {failure[0]}") from failure[0]
    try:
        yield plane
    finally:
        asyncio.run_coroutine_threadsafe(plane.stop(), loop).result(STOP_TIMEOUT_SECONDS)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT_SECONDS)
        loop.close()
