"""The suite's OpenEnv server: a FastAPI app (HTTP and WebSocket, OpenEnv's ``create_app``) over
:class:`~sftrl_openenv.server.environment.SuiteEnvironment`, one environment per session.

Start it without Docker, on this machine only::

    sftrl-openenv --port 8000                               # or: python -m sftrl_openenv --port 8000
    uvicorn sftrl_openenv.server.app:app --port 8000        # the app openenv.yaml names

``--host 0.0.0.0`` serves other machines too (the Docker image does). ``SFTRL_OPENENV_MAX_SESSIONS`` (default 64)
bounds the concurrent sessions of the module-level ``app``; ``--max-sessions`` does for the command.
"""

from __future__ import annotations

import argparse
import os

from openenv.core.env_server.http_server import create_app

from ..models import SuiteAction, SuiteObservation, SuiteState
from .environment import SuiteEnvironment

__all__ = ["app", "build_app", "main", "DEFAULT_MAX_SESSIONS"]

#: Concurrent sessions (WebSocket clients, each with its own env) a server accepts unless told otherwise.
DEFAULT_MAX_SESSIONS = 64


def build_app(max_sessions: int | None = None):
    """The FastAPI app, accepting ``max_sessions`` concurrent sessions (default: ``SFTRL_OPENENV_MAX_SESSIONS``,
    else :data:`DEFAULT_MAX_SESSIONS`).

    Raises:
        ValueError: ``max_sessions`` (or the variable) is not a positive integer.
    """
    if max_sessions is None:
        text = os.environ.get("SFTRL_OPENENV_MAX_SESSIONS", str(DEFAULT_MAX_SESSIONS))
        try:
            max_sessions = int(text)
        except ValueError:
            raise ValueError(f"SFTRL_OPENENV_MAX_SESSIONS must be a positive integer, got {text!r}") from None
    if isinstance(max_sessions, bool) or not isinstance(max_sessions, int) or max_sessions < 1:
        raise ValueError(f"max_sessions must be a positive integer, got {max_sessions!r}")
    return create_app(SuiteEnvironment, SuiteAction, SuiteObservation, env_name="sftrl",
                      max_concurrent_envs=max_sessions, state_cls=SuiteState)


app = build_app()


def main(argv: list[str] | None = None) -> None:
    """Serve the app with uvicorn (``sftrl-openenv``, ``python -m sftrl_openenv``)."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="sftrl-openenv", description="Serve the suite's OpenEnv environment "
                                     "(both games, every registered id) over HTTP and WebSocket.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine "
                        "only; 0.0.0.0 serves other machines)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--max-sessions", type=int, default=None,
                        help=f"concurrent sessions (default {DEFAULT_MAX_SESSIONS}, or SFTRL_OPENENV_MAX_SESSIONS)")
    args = parser.parse_args(argv)
    try:
        served = build_app(args.max_sessions)
    except ValueError as err:
        parser.error(str(err))
    uvicorn.run(served, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
