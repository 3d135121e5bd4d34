"""The suite as an OpenEnv environment: a server for every registered id of both games, a typed client, and a TRL
``environment_factory`` class.

    pip install "sft-rl-generalization-envs[openenv]"
    sftrl-openenv --port 8000                 # the server, locally, without Docker

then, from any process::

    from sftrl_openenv import SuiteAction, SuiteEnv
    with SuiteEnv(base_url="http://127.0.0.1:8000").sync() as env:
        result = env.reset(env_id="GeneralPoints-VL-v0", protocol="paper", seed=0)
        result = env.step(SuiteAction(reply='{"formula": "(10-4)*4"}'))

The server: :mod:`sftrl_openenv.server` (``openenv.yaml`` at the repository root names its app); the wire types:
:mod:`sftrl_openenv.models`; TRL's ``GRPOTrainer(environment_factory=...)``: :mod:`sftrl_openenv.trl`.
"""

from __future__ import annotations

try:
    import openenv.core  # noqa: F401
except ModuleNotFoundError as err:  # a plain ImportError: the extra is missing, the name exists
    raise ImportError("sftrl_openenv needs OpenEnv: pip install 'sft-rl-generalization-envs[openenv]' "
                      f"({err.msg})") from err

from .client import SuiteEnv
from .models import SuiteAction, SuiteObservation, SuiteState

__all__ = ["SuiteAction", "SuiteEnv", "SuiteObservation", "SuiteState"]
