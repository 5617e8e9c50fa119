"""pytest fixtures: a real nats-server and SecantusDB per session, isolated per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from omnihub.testkit.servers import MongoServer, NatsServer


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("omnihub")
    group.addoption("--nats-url", default=None, help="use this NATS server instead of starting one")
    group.addoption("--mongo-url", default=None, help="use this MongoDB instead of SecantusDB")


@pytest.fixture(scope="session")
def nats_server(request: pytest.FixtureRequest) -> Iterator[NatsServer | None]:
    """A session-wide nats-server with JetStream (None when --nats-url is given)."""
    if request.config.getoption("--nats-url"):
        yield None
        return
    server = NatsServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def nats_session_url(request: pytest.FixtureRequest, nats_server: NatsServer | None) -> str:
    """The session server's URL."""
    url = request.config.getoption("--nats-url")
    return str(url) if url else nats_server.url  # type: ignore[union-attr]


async def _wipe_jetstream(url: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            await js.delete_stream(str(info.config.name))
    finally:
        await nc.close()


@pytest.fixture
async def nats_url(nats_session_url: str) -> str:
    """The NATS URL, with every stream and KV bucket deleted first so tests are isolated."""
    await _wipe_jetstream(nats_session_url)
    return nats_session_url


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[object]:
    """A connected omnihub Bus with the streams ensured."""
    from omnihub.common.bus import Bus

    b = await Bus.connect(nats_url, name="test")
    await b.ensure_streams()
    yield b
    await b.close()


@pytest.fixture(scope="session")
def mongo_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A session-wide SecantusDB URL (or --mongo-url)."""
    url = request.config.getoption("--mongo-url")
    if url:
        yield str(url)
        return
    server = MongoServer()
    server.start()
    yield server.url
    server.cleanup()


@pytest.fixture
def mongo_db() -> str:
    """A database name unique to this test."""
    return f"t_{uuid.uuid4().hex[:12]}"
