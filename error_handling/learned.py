"""The learned layer: a linear model over a failure's features (``error_handling.features``).

Multinomial logistic regression, trained at build time by ``python -m error_handling.train_model``
on the project's corpus and shipped as ``knowledge/model.bin`` (class names, biases and feature
names in a JSON header, then per feature one weight per class as a 32-bit integer in units of
10⁻⁴; features whose weights were all negligible left out).
The classifier consults it only when no confident rule decided: at or above ``sure`` (the
model's probability of its best class) it answers there; below, the weak rules and a user's
fallback rules go first, and the model answers after them down to ``floor``; below ``floor`` the
answer is ``unknown_error``. Where the model gives ``unknown_error`` itself a probability of
``doubt`` or more, its best class does not count either: a report that reads like the ones
nobody could place is not decided by a word it happens to share with a category. Pure Python,
no network; the file is read on first use, once per process: its header in a few milliseconds,
a feature's weights the first time a report has that feature.
"""
from __future__ import annotations

import json
import math
import sys
from array import array
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

DEFAULT_FLOOR = 0.5
UNKNOWN = "unknown_error"
MODEL_FILE = "model.bin"
FORMAT = "dtf-linear-model/2"  # the dict form (to_dict): rows, per feature one weight per class
# The file: this line, the header's length (4 bytes, little-endian), the JSON header (the dict form
# with "features", the row names, instead of "rows"), then the rows' weights as int32 LE in 1/SCALE.
MAGIC = b"dtf-linear-model/3\n"
SCALE = 10_000
_INT32_LIMIT = 2**31 - 1


class LinearModel:
    """Scores = bias + sum of the weights of present features; softmax; best class and its probability.

    ``weights`` maps a feature to its (class index, weight) pairs; the model keeps each feature's
    row dense (one weight per class), so scoring is column sums done in C, not a loop over pairs.
    A model read from a file keeps the packed weights and makes a feature's row the first time
    it is asked for (``_row``): reading the file costs its header, not 40,000 rows.
    """

    __slots__ = ("classes", "bias", "floor", "sure", "doubt", "meta", "_unknown", "_index", "_table", "_packed")

    def __init__(self, classes: Sequence[str], bias: Sequence[float],
                 weights: Mapping[str, Iterable[tuple[int, float]]], *, floor: float = DEFAULT_FLOOR,
                 sure: float | None = None, doubt: float = 1.0, meta: Mapping[str, Any] | None = None) -> None:
        if len(classes) != len(bias) or not classes:
            raise ValueError("a model needs one bias per class and at least one class")
        if not 0.0 <= floor <= 1.0:
            raise ValueError(f"floor must be in [0, 1], got {floor!r}")
        if sure is not None and not floor <= sure <= 1.0:
            raise ValueError(f"sure must be in [floor, 1], got {sure!r}")
        if not 0.0 < doubt <= 1.0:
            raise ValueError(f"doubt must be in (0, 1], got {doubt!r}")
        self.classes = tuple(classes)
        self.bias = tuple(float(b) for b in bias)
        n = len(self.classes)
        rows: dict[str, tuple[float, ...]] = {}
        for feature, pairs in weights.items():
            row = [0.0] * n
            for i, w in pairs:
                i = int(i)
                if not 0 <= i < n:
                    raise ValueError(f"feature {feature!r}: class index out of range")
                row[i] += float(w)
            rows[feature] = tuple(row)
        self._set_rows(rows)
        self.floor = float(floor)
        self.sure = self.floor if sure is None else float(sure)
        self.doubt = float(doubt)
        self.meta = dict(meta or {})
        self._unknown = self.classes.index(UNKNOWN) if UNKNOWN in self.classes else None

    @classmethod
    def _from_rows(cls, classes: Sequence[str], bias: Sequence[float], rows: Mapping[str, Sequence[float]],
                   floor: float, meta: Mapping[str, Any] | None, sure: float | None = None,
                   doubt: float = 1.0) -> "LinearModel":
        model = cls(classes, bias, {}, floor=floor, sure=sure, doubt=doubt, meta=meta)
        n = len(model.classes)
        table = {feature: tuple(row) for feature, row in rows.items()}
        if any(len(row) != n for row in table.values()):
            raise ValueError(f"a model's rows must have one weight per class ({n})")
        model._set_rows(table)
        return model

    # A feature's row number starts at 1 (``_table[0]`` is no row), so that ``filter(None, ...)``
    # drops the features the model does not know.
    def _set_rows(self, rows: Mapping[str, tuple[float, ...]]) -> None:
        self._index = {feature: i for i, feature in enumerate(rows, 1)}
        self._table: list[tuple[float, ...] | None] = [(), *rows.values()]
        self._packed: array | None = None

    def _row(self, i: int) -> tuple[float, ...]:
        row = self._table[i]
        if row is None:  # not made from the packed weights yet
            n = len(self.classes)
            row = self._table[i] = tuple(w / SCALE for w in self._packed[(i - 1) * n:i * n])
        return row

    @property
    def rows(self) -> dict[str, tuple[float, ...]]:
        """Every feature's weights, one per class."""
        return {feature: self._row(i) for feature, i in self._index.items()}

    def probabilities(self, features: Iterable[str]) -> list[float]:
        # the rows of the features the model knows, in order
        ids = [*filter(None, map(self._index.get, features))]
        found = [self.bias, *map(self._table.__getitem__, ids)]
        if None in found:  # a row not made from the file's weights yet
            found[1:] = map(self._row, ids)
        scores = list(map(sum, zip(*found)))  # per class
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return [e / total for e in exps]

    def predict(self, features: Iterable[str]) -> tuple[str, float]:
        """(best class, its probability)."""
        probs = self.probabilities(features)
        best = probs.index(max(probs))  # the first of equals, as max over the indices gave
        return self.classes[best], probs[best]

    def assess(self, features: Iterable[str]) -> tuple[str, float, float]:
        """(best class, its probability, the probability of ``unknown_error``; 0 without that class)."""
        probs = self.probabilities(features)
        best = probs.index(max(probs))
        return self.classes[best], probs[best], 0.0 if self._unknown is None else probs[self._unknown]

    def decide(self, features: Iterable[str]) -> tuple[str, float] | None:
        """The best class when its probability reaches the floor, else None."""
        label, p = self.predict(features)
        return (label, p) if p >= self.floor else None

    # -- files -------------------------------------------------------------------------------
    def _header(self) -> dict[str, Any]:
        return {"format": FORMAT, "classes": list(self.classes), "bias": list(self.bias), "floor": self.floor,
                "sure": self.sure, "doubt": self.doubt, "meta": self.meta}

    def to_dict(self) -> dict[str, Any]:
        return dict(self._header(),
                    rows={f: [round(w, 4) or 0 for w in row] for f, row in sorted(self.rows.items())})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LinearModel":
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError(f"not a dtf linear model (format {FORMAT})")
        classes, rows = data["classes"], data["rows"]
        if not isinstance(rows, Mapping) or not isinstance(classes, list):
            raise ValueError("a model's classes must be a list and its rows a mapping")
        sure = data.get("sure")
        return cls._from_rows(classes, data["bias"], rows, float(data.get("floor", DEFAULT_FLOOR)), data.get("meta"),
                              None if sure is None else float(sure), float(data.get("doubt", 1.0)))

    def to_bytes(self) -> bytes:
        """The file's bytes (``MAGIC``): weights rounded to 1/SCALE, as ``to_dict`` rounds them."""
        names = sorted(self._index)
        header = dict(self._header(), features=names)
        units = [round(w * SCALE) for f in names for w in self._row(self._index[f])]
        if any(abs(w) > _INT32_LIMIT for w in units):
            raise ValueError(f"a weight is too large for the model file (at most {_INT32_LIMIT / SCALE:g})")
        weights = array("i", units)
        if sys.byteorder == "big":
            weights.byteswap()
        head = json.dumps(header, separators=(",", ":")).encode("utf-8")
        return MAGIC + len(head).to_bytes(4, "little") + head + weights.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "LinearModel":
        """A model from ``to_bytes``'s bytes; a file in the dict form (JSON, format 2) is read too."""
        if data[:1] == b"{":
            return cls.from_dict(json.loads(data))
        if not data.startswith(MAGIC):
            raise ValueError(f"not a dtf linear model (no {MAGIC.decode().strip()!r} line)")
        start = len(MAGIC) + 4
        end = start + int.from_bytes(data[len(MAGIC):start], "little")
        header = json.loads(data[start:end])
        if not isinstance(header, dict) or not isinstance(header.get("features"), list):
            raise ValueError("a model's header must name its features")
        names = header.pop("features")
        model = cls.from_dict(dict(header, rows={}))
        weights = array("i")
        weights.frombytes(data[end:])
        if sys.byteorder == "big":
            weights.byteswap()
        if len(weights) != len(names) * len(model.classes):
            raise ValueError(f"a model's weights must be one per class for each of its {len(names)} features")
        model._index = dict(zip(names, range(1, len(names) + 1)))
        if len(model._index) != len(names):
            raise ValueError("a model's features must be distinct")
        model._table = [(), *[None] * len(names)]
        model._packed = weights
        return model

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> "LinearModel":
        try:
            return cls.from_bytes(Path(path).read_bytes())
        except (OSError, ValueError, KeyError, TypeError) as exc:  # json's errors are ValueErrors
            raise ValueError(f"{path}: cannot read model: {exc}") from None


_SHIPPED: tuple[Any, LinearModel] | None = None  # (the file's identity, the model read from it)


def shipped_model(fresh: bool = False) -> LinearModel | None:
    """The model shipped with the package, or None when it was not built. Read once per process
    (a few milliseconds: a feature's weights are made into a row when a report first has it) and
    shared by every classifier while the file is unchanged: a model is never changed after it is
    built. ``fresh``: read the file again (and share that)."""
    global _SHIPPED
    package = resources.files("error_handling.knowledge")
    file = package.joinpath(MODEL_FILE)
    if not file.is_file():
        return None
    try:
        stat = Path(str(file)).stat()
        identity: Any = (str(file), stat.st_mtime_ns, stat.st_size)
    except OSError:  # not a plain file (a zipped package): read it each time
        identity = None
    shared = _SHIPPED
    if not fresh and identity is not None and shared is not None and shared[0] == identity:
        return shared[1]
    model = LinearModel.from_bytes(file.read_bytes())
    if identity is not None:
        _SHIPPED = (identity, model)
    return model
