"""The server side: :class:`SuiteEnvironment` and the FastAPI app (:mod:`sftrl_openenv.server.app`)."""

from .environment import SuiteEnvironment

__all__ = ["SuiteEnvironment"]
