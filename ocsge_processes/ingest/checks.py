"""The checks a whole ingest runs on its batches before the first write: placement, then partitions.

Reading a delivery already refuses non-finite coordinates and geometries outside their CRS's area of use; what
needs every batch of the command (and the communes already stored) is checked here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import DeliveryError
from ..layers import ARTIF, OCCUPATION_SOL
from .deliveries import Batch
from .partition import SLIVER_M2, partition_report
from .placement import Bounds, departement_extents, refuse_outside_departements

#: Layers that should be partitions of their territory: overlaps and gaps there bias every area computed from them.
PARTITION_LAYERS = (OCCUPATION_SOL, ARTIF)


def check_batches(
    batches: Sequence[Batch], stored_communes: Mapping[str, Bounds], *, strict: bool
) -> list[tuple[str, bool]]:
    """Refuse batches outside their département; report overlaps and gaps of partition layers: one line each, and
    whether the layer is a clean partition.

    ``stored_communes``: extent of each département's communes already in the store. With ``strict``, a partition
    layer with any overlap or gap above ``SLIVER_M2`` is refused.
    """
    refuse_outside_departements(batches, departement_extents(batches, stored_communes))
    lines, refused = [], []
    for batch in batches:
        if batch.layer not in PARTITION_LAYERS:
            continue
        report = partition_report(np.asarray(batch.frame.geometry.array, dtype=object))
        line = f"{describe(batch)}: {report.summary()}"
        lines.append((line, report.clean))
        if not report.clean:
            refused.append(line)
    if strict and refused:
        raise DeliveryError(
            f"--strict: {len(refused)} layer(s) are not partitions (overlaps or gaps over {SLIVER_M2:g} m² each): "
            + "; ".join(refused)
            + ". Nothing was written"
        )
    return lines


def describe(batch: Batch) -> str:
    """``layer from source (slice)``, as ingest messages name a batch."""
    return f"{batch.layer.collection_id} from {batch.source} ({', '.join(f'{k}={v}' for k, v in batch.slice.items())})"
