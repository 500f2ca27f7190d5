"""A minimal SOCKS5 / SOCKS4a proxy for tests: CONNECT only, optional user/password, can refuse."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass, field

__all__ = ["SocksProxy", "start_socks_proxy"]


@dataclass
class SocksProxy:
    host: str
    port: int
    server: asyncio.base_events.Server
    connects: list[tuple[str, int]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)  # SOCKS version of each client

    @property
    def url(self) -> str:
        return f"socks5://{self.host}:{self.port}"

    async def close(self) -> None:
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def start_socks_proxy(
    *,
    refuse: bool = False,
    credentials: tuple[str, str] | None = None,
    hosts: dict[str, str] | None = None,
) -> SocksProxy:
    """Start a SOCKS5 / SOCKS4a proxy on 127.0.0.1:0.

    `refuse` answers every CONNECT with 'not allowed'; `hosts` resolves names the proxy is
    asked for (like the proxy's own DNS), e.g. {"mail.corp.test": "127.0.0.1"}.
    """
    proxy: SocksProxy
    names = hosts or {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            (version,) = await reader.readexactly(1)
            if version == 4:
                proxy.versions.append(4)
                await _socks4(reader, writer)
                return
            proxy.versions.append(version)
            (count,) = await reader.readexactly(1)
            methods = await reader.readexactly(count)
            wanted = 2 if credentials else 0
            if version != 5 or wanted not in methods:
                writer.write(b"\x05\xff")
                return
            writer.write(bytes([5, wanted]))
            if credentials:
                _, ulen = await reader.readexactly(2)
                user = (await reader.readexactly(ulen)).decode()
                (plen,) = await reader.readexactly(1)
                password = (await reader.readexactly(plen)).decode()
                proxy.logins.append((user, password))
                ok = (user, password) == credentials
                writer.write(b"\x01\x00" if ok else b"\x01\x01")
                if not ok:
                    return
            _, command, _, atyp = await reader.readexactly(4)
            if atyp == 3:
                (length,) = await reader.readexactly(1)
                host = (await reader.readexactly(length)).decode()
            elif atyp == 1:
                host = ".".join(str(b) for b in await reader.readexactly(4))
            else:
                writer.write(b"\x05\x08\x00\x01" + b"\x00" * 6)
                return
            (port,) = struct.unpack("!H", await reader.readexactly(2))
            proxy.connects.append((host, port))
            if refuse or command != 1:
                writer.write(b"\x05\x02\x00\x01" + b"\x00" * 6)  # connection not allowed
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(names.get(host, host), port)
            except OSError:
                writer.write(b"\x05\x05\x00\x01" + b"\x00" * 6)  # connection refused
                return
            writer.write(b"\x05\x00\x00\x01" + b"\x00" * 6)
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _socks4(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        command, port_hi, port_lo = await reader.readexactly(3)
        address = await reader.readexactly(4)
        await reader.readuntil(b"\x00")  # user id
        if address[:3] == b"\x00\x00\x00" and address[3]:  # SOCKS4a: the name follows
            host = (await reader.readuntil(b"\x00"))[:-1].decode()
        else:
            host = ".".join(str(b) for b in address)
        port = port_hi * 256 + port_lo
        proxy.connects.append((host, port))
        if refuse or command != 1:
            writer.write(b"\x00\x5b" + b"\x00" * 6)  # rejected
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(names.get(host, host), port)
        except OSError:
            writer.write(b"\x00\x5b" + b"\x00" * 6)
            return
        writer.write(b"\x00\x5a" + b"\x00" * 6)  # granted
        await writer.drain()
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, host="127.0.0.1", port=0)
    proxy = SocksProxy("127.0.0.1", server.sockets[0].getsockname()[1], server)
    return proxy
