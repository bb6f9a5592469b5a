"""OGC API server for IGN's OCS GE land-cover map: features, artificialisation, segmentation."""

__version__ = "0.1.0"
