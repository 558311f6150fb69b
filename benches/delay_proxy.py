#!/usr/bin/env python3
"""A TCP proxy that delays every chunk by DELAY_MS in each direction: a broker one round trip of
2 x DELAY_MS away, where the kernel has no netem (`tc qdisc ... netem` is not available here).

  python3 benches/delay_proxy.py LISTEN_PORT TARGET_PORT DELAY_MS
  BROKER=amqp://guest:guest@127.0.0.1:LISTEN_PORT bash benches/compare.sh

Bytes keep their order and the throughput is not capped (each direction is a queue of chunks,
each written when its delay is up); the proxy's own CPU is part of the run. Stop it with ^C.
"""
import asyncio
import sys
import time

LISTEN, TARGET, DELAY = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000


async def one_way(reader, writer):
    chunks = asyncio.Queue()

    async def write_when_due():
        while True:
            due, data = await chunks.get()
            if data is None:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(data)
            await writer.drain()
        writer.close()

    writing = asyncio.create_task(write_when_due())
    try:
        while data := await reader.read(1 << 16):
            chunks.put_nowait((time.monotonic() + DELAY, data))
    finally:
        chunks.put_nowait((0.0, None))
        await writing


async def connection(client_reader, client_writer):
    try:
        broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", TARGET)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(
        one_way(client_reader, broker_writer),
        one_way(broker_reader, client_writer),
        return_exceptions=True,
    )


async def main():
    server = await asyncio.start_server(connection, "127.0.0.1", LISTEN)
    async with server:
        await server.serve_forever()


asyncio.run(main())
