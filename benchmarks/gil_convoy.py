"""How a CPU-bound thread slows an asyncio UDP loop, by the interpreter's switch interval.

    .venv/bin/python -m benchmarks.gil_convoy [--seconds 2]

An asyncio client reads its socket with loop.add_reader, as poller/snmp/transport.py does, and does one
round trip at a time against an echo process; it runs alone, then beside a thread doing pure-Python work
(what a scrape render or a writer batch does). Every socket call releases the GIL, and a thread that wants
it back waits until the busy thread is asked to drop it, up to the switch interval (CPython's default
5 ms): the "convoy effect". fastpoll's metrics scrapes and database writer run in threads beside the
event loop, so this bounds what they can cost it; the full pipeline (many requests in flight per wake-up)
is measured by ``python -m benchmarks run --systems pipeline``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import sys
import threading
from multiprocessing.queues import Queue


def _echo(ports: Queue[int]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    ports.put(sock.getsockname()[1])
    while True:
        data, addr = sock.recvfrom(2048)
        sock.sendto(data, addr)


def _burn(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x += i * i


async def _round_trips(port: int, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.connect(("127.0.0.1", port))
    waiting: asyncio.Future[None] | None = None

    def readable() -> None:
        while True:
            try:
                sock.recv(2048)
            except BlockingIOError:
                return
            if waiting is not None and not waiting.done():
                waiting.set_result(None)

    loop.add_reader(sock.fileno(), readable)
    done = 0
    end = loop.time() + seconds
    try:
        while loop.time() < end:
            waiting = loop.create_future()
            sock.send(b"x" * 100)
            await waiting
            done += 1
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
    return done / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    ports: Queue[int] = multiprocessing.Queue()
    echo = multiprocessing.Process(target=_echo, args=(ports,), daemon=True)
    echo.start()
    port = ports.get()
    saved = sys.getswitchinterval()
    try:
        for interval in (0.005, 0.001, 0.0005):
            sys.setswitchinterval(interval)
            alone = asyncio.run(_round_trips(port, args.seconds))
            stop = threading.Event()
            busy = threading.Thread(target=_burn, args=(stop,))
            busy.start()
            try:
                beside = asyncio.run(_round_trips(port, args.seconds))
            finally:
                stop.set()
                busy.join()
            print(
                f"switch interval {interval * 1000:.1f} ms: {alone:,.0f} round trips/s alone, "
                f"{beside:,.0f} beside a CPU-bound thread"
            )
    finally:
        sys.setswitchinterval(saved)
        echo.terminate()


if __name__ == "__main__":
    main()
