"""The segmentation models of ``config/models.yml``, validated when loaded.

Validation happens once, at load: every band is one the band assembly can deliver, normalisation has one value per
band, masked classes exist, and every class maps to a couverture leaf of the nomenclature or to nothing, so that the
engine never meets a code it cannot write.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import OcsgeError, UnknownCodeError
from ..nomenclature import couverture
from ..resources import ConfigMapping, config_dir

#: Input bands the band assembly knows: red, green, blue, near infrared, elevation (nDSM / 0.2 m, 8-bit).
BANDS = ("R", "G", "B", "NIR", "E")
#: How a model's network is built and its checkpoint keyed: an smp model (``smp``, FLAIR-INC's files), or IGN's
#: FLAIR-HUB wrapper (``flair-hub``, see ``flairhub``).
LAYOUTS = ("smp", "flair-hub")


class RegistryError(OcsgeError, ValueError):
    """``config/models.yml`` is malformed; the message names the model or class set and the entry."""


@dataclass(frozen=True)
class ModelClass:
    """One output channel of a model: its class code, name, legend colour and couverture leaf (None: nodata)."""

    code: int
    name: str
    color: str
    cs: str | None


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to run a model, except its weights' values."""

    name: str
    description: str
    #: Where the weights are published (a web page), for the user who must fetch them.
    source: str
    architecture: str
    encoder: str
    bands: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: One per output channel, in channel order.
    classes: tuple[ModelClass, ...]
    #: Class codes never predicted (their logits are set to -inf before argmax).
    masked: frozenset[int]
    #: Local weights file, or None when the user must give one.
    checkpoint: Path | None
    #: Further arguments of the smp constructor (e.g. encoder_depth, decoder_channels for a small network).
    options: tuple[tuple[str, object], ...] = ()
    #: One of ``LAYOUTS``.
    layout: str = "smp"
    #: Why sealed areas from this model are biased (a class that mixes sealed and bare ground), shown beside them.
    sealing_caveat: str | None = None

    @property
    def masked_channels(self) -> list[int]:
        """Output channels of the masked classes."""
        return [index for index, klass in enumerate(self.classes) if klass.code in self.masked]


@functools.cache
def models() -> dict[str, ModelSpec]:
    """The models shipped in ``config/models.yml``, loaded once."""
    return load_models(config_dir() / "models.yml")


def get_model(name: str) -> ModelSpec:
    """The model called ``name``, or an error that lists the known ones."""
    known = models()
    try:
        return known[name]
    except KeyError:
        raise UnknownCodeError(f"unknown segmentation model {name!r}; expected one of {', '.join(known)}") from None


def load_models(path: Path) -> dict[str, ModelSpec]:
    """Read and validate a models file; relative checkpoint paths are relative to its folder."""
    with path.open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle) or {}
    class_sets = {name: _class_set(path, name, entries) for name, entries in (document.get("class_sets") or {}).items()}
    return {name: _model(path, name, entry or {}, class_sets) for name, entry in (document.get("models") or {}).items()}


def _class_set(path: Path, name: str, entries: list[ConfigMapping]) -> tuple[ModelClass, ...]:
    leaves = set(couverture().leaves())
    classes = []
    for entry in entries or []:
        try:
            klass = ModelClass(int(entry["code"]), str(entry["name"]), str(entry["color"]), entry.get("cs"))
        except (KeyError, TypeError, ValueError) as exc:
            raise RegistryError(
                f"{path}: class set {name}: entry {entry!r} needs code, name and color ({exc})"
            ) from None
        if klass.cs is not None and klass.cs not in leaves:
            raise RegistryError(
                f"{path}: class set {name}: class {klass.code} ({klass.name}) maps to {klass.cs!r}, "
                f"which is not a couverture leaf; expected one of {', '.join(sorted(leaves))} or null"
            )
        if not (len(klass.color) == 7 and klass.color.startswith("#")):
            raise RegistryError(
                f"{path}: class set {name}: colour {klass.color!r} of class {klass.code} is not #rrggbb"
            )
        classes.append(klass)
    codes = [klass.code for klass in classes]
    if not classes or len(set(codes)) != len(codes):
        raise RegistryError(f"{path}: class set {name} must list classes with distinct codes; got {codes}")
    return tuple(classes)


def _model(path: Path, name: str, entry: ConfigMapping, class_sets: dict[str, tuple[ModelClass, ...]]) -> ModelSpec:
    def need(key: str) -> object:
        if entry.get(key) is None:
            raise RegistryError(f"{path}: model {name} has no {key!r}")
        return entry[key]

    def listed(key: str, value: object) -> list[object]:
        if not isinstance(value, list):
            raise RegistryError(f"{path}: model {name}: {key} must be a list, not {value!r}")
        return value

    def numbers[N: (int, float)](key: str, value: object, kind: type[N]) -> tuple[N, ...]:
        items = listed(key, value)
        found = tuple(kind(item) for item in items if isinstance(item, int | float) and not isinstance(item, bool))
        if len(found) != len(items):
            raise RegistryError(f"{path}: model {name}: {key} must be a list of numbers, not {value!r}")
        return found

    bands = tuple(str(band) for band in listed("bands", need("bands")))
    unknown = [band for band in bands if band not in BANDS]
    if unknown or len(set(bands)) != len(bands):
        raise RegistryError(
            f"{path}: model {name}: bands {list(bands)} must be distinct names among {', '.join(BANDS)}"
        )
    mean, std = numbers("mean", need("mean"), float), numbers("std", need("std"), float)
    if len(mean) != len(bands) or len(std) != len(bands) or min(std) <= 0:
        raise RegistryError(
            f"{path}: model {name}: mean and std need one value per band ({len(bands)}), "
            f"std above 0; got {len(mean)} means and stds {list(std)}"
        )
    set_name = need("classes")
    if not isinstance(set_name, str) or set_name not in class_sets:
        raise RegistryError(
            f"{path}: model {name}: unknown class set {set_name!r}; expected one of {', '.join(class_sets)}"
        )
    classes = class_sets[set_name]
    masked = frozenset(numbers("masked", entry.get("masked") or [], int))
    codes = {klass.code for klass in classes}
    if not masked <= codes or masked == codes:
        raise RegistryError(
            f"{path}: model {name}: masked classes {sorted(masked)} must be codes of class set "
            f"{set_name} ({sorted(codes)}) and leave at least one class"
        )
    checkpoint = entry.get("checkpoint")
    layout = str(entry.get("layout", "smp"))
    if layout not in LAYOUTS:
        raise RegistryError(f"{path}: model {name}: layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    return ModelSpec(
        name=name,
        description=str(entry.get("description", "")),
        source=str(entry.get("source", "")),
        architecture=str(need("architecture")),
        encoder=str(need("encoder")),
        bands=bands,
        mean=mean,
        std=std,
        classes=classes,
        masked=masked,
        checkpoint=None if checkpoint is None else path.parent / checkpoint,
        options=_options(path, name, entry.get("options") or {}),
        layout=layout,
        sealing_caveat=str(entry["sealing_caveat"]) if entry.get("sealing_caveat") else None,
    )


def _options(path: Path, name: str, options: object) -> tuple[tuple[str, object], ...]:
    if not isinstance(options, dict):
        raise RegistryError(f"{path}: model {name}: options must be a mapping of smp constructor arguments")
    return tuple((str(key), tuple(value) if isinstance(value, list) else value) for key, value in options.items())
