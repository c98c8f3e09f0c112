"""How a CPU-bound thread slows an asyncio UDP loop, by the interpreter's switch interval.

    .venv/bin/python -m benchmarks.gil_convoy [--seconds 2] [--keep-gil [--rounds 4]]

An asyncio client reads its socket with loop.add_reader, as poller/snmp/transport.py does, and does one
round trip at a time against an echo process; it runs alone, then beside a thread doing pure-Python work
(what a scrape render or a writer batch does). Every socket call releases the GIL, and a thread that wants
it back waits until the busy thread is asked to drop it, up to the switch interval (CPython's default
5 ms): the "convoy effect". fastpoll's metrics scrapes and database writer run in threads beside the
event loop, so this bounds what they can cost it; the full pipeline (many requests in flight per wake-up)
is measured by ``python -m benchmarks run --systems pipeline``.

A second measurement (``--keep-gil``) asks whether the engine's sends should keep the GIL: 200 requests in
flight, Python work per reply (what parsing a response costs), beside two threads doing fixed bursts of
Python work with sleeps between (a writer, a scrape). It sends with ``socket.sendto`` (releases the GIL)
and with libc's ``sendto`` through ``ctypes.PyDLL`` (keeps it), taking turns, and reports the loop's
round trips/s and the threads' bursts/s. Keeping the GIL gave the loop a few percent more round trips
(4,000 -> 4,200 here) and starved the threads (bursts/s down by an order of magnitude): CPython gives a
waiting thread the GIL only if the holder has not dropped and retaken it within a switch interval, and a
loop that releases it for every recvfrom and epoll retakes it before the waiting thread wakes. Tried in
the full pipeline at 10,000 devices, the scrapes took up to 47 s instead of 13-14 s; fastpoll's engine
keeps ``socket.sendto``.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import itertools
import multiprocessing
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.queues import Queue


def _echo(ports: Queue[int]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
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


def _libc_sendto(sock: socket.socket) -> Callable[[bytes, tuple[str, int]], object]:
    """sock.sendto through libc with the GIL kept (ctypes.PyDLL), IPv4 literals only."""
    fn = ctypes.PyDLL(None, use_errno=True).sendto
    c = ctypes
    fn.argtypes = (c.c_int, c.c_char_p, c.c_size_t, c.c_int, c.c_char_p, c.c_uint32)
    fn.restype = c.c_ssize_t
    fd = sock.fileno()

    def sendto(data: bytes, addr: tuple[str, int]) -> object:
        sa = (
            socket.AF_INET.to_bytes(2, sys.byteorder)
            + addr[1].to_bytes(2, "big")
            + socket.inet_aton(addr[0])
            + bytes(8)
        )
        if fn(fd, data, len(data), 0, sa, len(sa)) < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return len(data)

    return sendto


def _bursts(stop: threading.Event, done: list[int], iterations: int, pause: float) -> None:
    while not stop.is_set():
        x = 0
        for _ in range(iterations):
            for i in range(200):
                x += i
        done[0] += 1
        time.sleep(pause)


async def _pipelined(port: int, seconds: float, keep_gil: bool, in_flight: int, work: int) -> float:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setblocking(False)
    sendto = _libc_sendto(sock) if keep_gil else sock.sendto
    addr = ("127.0.0.1", port)
    done = 0
    ids = itertools.count()

    def readable() -> None:
        nonlocal done
        for _ in range(in_flight):  # bounded: with replies always waiting, a drain would never end
            try:
                sock.recvfrom(64)
            except BlockingIOError:
                return
            done += 1
            sum(range(work))  # the reply's parsing and checks
            sendto(next(ids).to_bytes(8, "big"), addr)

    loop.add_reader(sock.fileno(), readable)
    try:
        for _ in range(in_flight):
            sendto(next(ids).to_bytes(8, "big"), addr)
        await asyncio.sleep(seconds)
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
    return done / seconds


def keep_gil(port: int, seconds: float, rounds: int) -> None:
    """Round trips/s of a pipelined loop and bursts/s of two busy threads, sendto releasing or keeping
    the GIL, in turns."""
    stop = threading.Event()
    done = [0]
    # about 1 ms of pure-Python work a burst on this project's machine, then 7 ms asleep (~1/8 duty each)
    threads = [threading.Thread(target=_bursts, args=(stop, done, 75, 0.007), daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    results: dict[str, list[tuple[float, float]]] = {"socket.sendto": [], "libc sendto keeping the GIL": []}
    try:
        for r in range(rounds):
            for keep in (False, True) if r % 2 == 0 else (True, False):
                before = done[0]
                trips = asyncio.run(_pipelined(port, seconds, keep, in_flight=200, work=10000))
                name = "libc sendto keeping the GIL" if keep else "socket.sendto"
                results[name].append((trips, (done[0] - before) / seconds))
    finally:
        stop.set()
        for t in threads:
            t.join()
    for name, runs in results.items():
        trips = statistics.median(t for t, _ in runs)
        bursts = statistics.median(b for _, b in runs)
        print(f"{name}: {trips:,.0f} round trips/s, the two threads {bursts:,.0f} bursts/s", end=" ")
        print(f"(medians of {len(runs)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--keep-gil", action="store_true", help="socket.sendto against libc's, pipelined")
    ap.add_argument("--rounds", type=int, default=4, help="--keep-gil: turns of each")
    args = ap.parse_args()
    ports: Queue[int] = multiprocessing.Queue()
    echo = multiprocessing.Process(target=_echo, args=(ports,), daemon=True)
    echo.start()
    port = ports.get()
    if args.keep_gil:
        try:
            keep_gil(port, args.seconds, args.rounds)
        finally:
            echo.terminate()
        return
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
