"""Artificialisation of the land under the décret n° 2023-1096 (annex to article R.101-1 of the Code de l'urbanisme).

A pure library: rules as data (``config/artificialisation``), the thresholds as geometry, and the stock and flow
indicators of the official tool (MTES-MCT/sparte). No store access, no HTTP.
"""

from .flows import (
    CONSISTENCY_TOLERANCE_HA,
    Flows,
    Transition,
    aggregate_flows,
    compute_all_flows,
    compute_flows,
    consistency_gap_ha,
    is_consistent,
)
from .methods import DECREE, IGN, MATRIX, METHODS, artificial_status, with_decree_status
from .rules import (
    DecreeCategory,
    Rules,
    RulesError,
    Thresholds,
    artificial_flags,
    decree_categories,
    decree_category,
    is_artificial,
    rules,
)
from .stock import NOT_CLASSIFIED, AreaSplit, Stock, aggregate_stocks, compute_all_stocks, compute_stock
from .territory import Territory, TerritoryPart, combine
from .thresholds import apply_thresholds, linear_width_m

__all__ = [
    "CONSISTENCY_TOLERANCE_HA",
    "DECREE",
    "IGN",
    "MATRIX",
    "METHODS",
    "NOT_CLASSIFIED",
    "AreaSplit",
    "DecreeCategory",
    "Flows",
    "Rules",
    "RulesError",
    "Stock",
    "Territory",
    "TerritoryPart",
    "Thresholds",
    "Transition",
    "aggregate_flows",
    "aggregate_stocks",
    "apply_thresholds",
    "artificial_flags",
    "artificial_status",
    "combine",
    "compute_all_flows",
    "compute_all_stocks",
    "compute_flows",
    "compute_stock",
    "consistency_gap_ha",
    "decree_categories",
    "decree_category",
    "is_artificial",
    "is_consistent",
    "linear_width_m",
    "rules",
    "with_decree_status",
]
