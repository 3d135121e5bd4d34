"""``python -m sftrl_openenv [--host H] [--port P] [--max-sessions N]``: serve the suite's OpenEnv app locally."""

from .server.app import main

main()
