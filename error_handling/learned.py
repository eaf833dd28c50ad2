"""The learned layer: a linear model over a failure's features (``error_handling.features``).

Multinomial logistic regression, trained at build time by ``python -m error_handling.train_model``
on the project's corpus and shipped as ``knowledge/model.json`` (class names, biases, and per
feature one weight per class, rounded; features whose weights were all negligible left out).
The classifier consults it only when no confident rule decided: at or above ``sure`` (the
model's probability of its best class) it answers there; below, the weak rules and a user's
fallback rules go first, and the model answers after them down to ``floor``; below ``floor`` the
answer is ``unknown_error``. Where the model gives ``unknown_error`` itself a probability of
``doubt`` or more, its best class does not count either: a report that reads like the ones
nobody could place is not decided by a word it happens to share with a category. Pure Python,
no network; the file is read on first use, once per process.
"""
from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

DEFAULT_FLOOR = 0.5
UNKNOWN = "unknown_error"
MODEL_FILE = "model.json"
FORMAT = "dtf-linear-model/2"  # rows: per feature one weight per class


class LinearModel:
    """Scores = bias + sum of the weights of present features; softmax; best class and its probability.

    ``weights`` maps a feature to its (class index, weight) pairs; the model keeps each feature's
    row dense (one weight per class), so scoring is column sums done in C, not a loop over pairs.
    """

    __slots__ = ("classes", "bias", "rows", "floor", "sure", "doubt", "meta", "_unknown")

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
        self.rows = rows
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
        model.rows = table
        return model

    def probabilities(self, features: Iterable[str]) -> list[float]:
        # the rows of the features the model knows (a row is never empty, so never falsy), in order
        found = [self.bias, *filter(None, map(self.rows.get, features))]
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
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "classes": list(self.classes), "bias": list(self.bias), "floor": self.floor,
                "sure": self.sure, "doubt": self.doubt, "meta": self.meta,
                "rows": {f: [round(w, 4) or 0 for w in row] for f, row in sorted(self.rows.items())}}

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

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "LinearModel":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read model: {exc}") from None
        return cls.from_dict(data)


_SHIPPED: tuple[Any, LinearModel] | None = None  # (the file's identity, the model read from it)


def shipped_model(fresh: bool = False) -> LinearModel | None:
    """The model shipped with the package, or None when it was not built. Read once per process
    (0.1-0.2 s for its 3.6 MB) and shared by every classifier while the file is unchanged: a
    model is never changed after it is built. ``fresh``: read the file again (and share that)."""
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
    model = LinearModel.from_dict(json.loads(file.read_text(encoding="utf-8")))
    if identity is not None:
        _SHIPPED = (identity, model)
    return model
