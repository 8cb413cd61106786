"""Left for ``gateway.domain.upstream`` only, until it imports these from
``gateway.vtn.mapping`` (the 2.0b mapping); nothing else may use this module."""

from gateway.vtn.mapping import SCALE_TO_KW, OadrEventStatus

__all__ = ["SCALE_TO_KW", "OadrEventStatus"]
