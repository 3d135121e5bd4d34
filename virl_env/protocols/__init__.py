"""The evaluation protocols of V-IRL as strategy objects: what the model reads, how a reply is graded, how a route's
rail is built and how a route ends, under the suite's rules (:mod:`.suite`, the default) and the paper authors'
(:mod:`.paper`).

:class:`~virl_env.protocols.base.Protocol` is the interface; :data:`PROTOCOLS` holds one object per protocol of
:data:`sftrl_core.registry.PROTOCOLS` (the suite's one list of protocol names) and :func:`get_protocol` picks one.
The texts both protocols show live in :mod:`.prompts`.

>>> get_protocol("paper").base_rules.on_exhausted, get_protocol("suite").relative_turn(0.0, 0.0)
('terminate', 'slightly right')
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sftrl_core import registry
from virl_env.protocols.base import Protocol
from virl_env.protocols.paper import PaperProtocol
from virl_env.protocols.suite import SuiteProtocol

__all__ = ["PROTOCOLS", "PaperProtocol", "Protocol", "SuiteProtocol", "get_protocol"]

_IMPLEMENTATIONS: dict[str, type[Protocol]] = {cls.name: cls for cls in (SuiteProtocol, PaperProtocol)}

#: One protocol object per protocol name of :data:`sftrl_core.registry.PROTOCOLS`, in the registry's order.
PROTOCOLS: Mapping[str, Protocol] = MappingProxyType(
    {name: _IMPLEMENTATIONS[name]() for name in registry.PROTOCOL_NAMES})


def get_protocol(protocol: str | Protocol) -> Protocol:
    """The protocol named ``protocol``, or ``protocol`` itself if it is a :class:`Protocol`.

    Raises:
        ValueError: a name that is not a protocol of :data:`sftrl_core.registry.PROTOCOLS` (the message lists
            them).
    """
    if isinstance(protocol, Protocol):
        return protocol
    return PROTOCOLS[registry.check_protocol(protocol)]
