"""Deterministic generated OCS GE (marked as generated), written in IGN's delivery layout.

No full-coverage OCCUPATION_SOL layer is available offline; this one serves demos, scale tests and tests whose exact
answer is known. Every polygon says in ``source`` that it is not IGN data.
"""

from .communes import departement_of_communes, read_communes
from .dataset import SOURCE, GeneratedOcsge, generate
from .delivery import write_delivery

__all__ = ["SOURCE", "GeneratedOcsge", "departement_of_communes", "generate", "read_communes", "write_delivery"]
