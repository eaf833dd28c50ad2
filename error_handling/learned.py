"""The learned layer: a linear model over a failure's features (``error_handling.features``).

Multinomial logistic regression, trained at build time by ``python -m error_handling.train_model``
on the project's corpus and shipped as ``knowledge/model.json`` (class names, biases, and per
feature the non-negligible weights). The classifier consults it only when no confident rule
decided; below ``floor`` (the model's probability of its best class) the answer is
``unknown_error``. Pure Python, no network; the file is read on first use.
"""
from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

DEFAULT_FLOOR = 0.5
MODEL_FILE = "model.json"


class LinearModel:
    """Scores = bias + sum of the weights of present features; softmax; best class and its probability."""

    __slots__ = ("classes", "bias", "weights", "floor", "meta")

    def __init__(self, classes: Sequence[str], bias: Sequence[float],
                 weights: Mapping[str, Iterable[tuple[int, float]]], *, floor: float = DEFAULT_FLOOR,
                 meta: Mapping[str, Any] | None = None, check: bool = True) -> None:
        """``check=False`` takes ``weights`` as they are (lists of [class index, weight] pairs from
        a file ``from_dict`` has read): converting and checking 20,000 pairs was most of a load."""
        if len(classes) != len(bias) or not classes:
            raise ValueError("a model needs one bias per class and at least one class")
        if not 0.0 <= floor <= 1.0:
            raise ValueError(f"floor must be in [0, 1], got {floor!r}")
        self.classes = tuple(classes)
        self.bias = tuple(float(b) for b in bias)
        n = len(self.classes)
        if check:
            table: dict[str, Any] = {}
            for feature, pairs in weights.items():
                row = tuple((int(i), float(w)) for i, w in pairs)
                if any(not 0 <= i < n for i, _ in row):
                    raise ValueError(f"feature {feature!r}: class index out of range")
                table[feature] = row
            self.weights = table
        else:
            self.weights = dict(weights)
        self.floor = float(floor)
        self.meta = dict(meta or {})

    def probabilities(self, features: Iterable[str]) -> list[float]:
        scores = list(self.bias)
        weights = self.weights
        for feature in features:
            row = weights.get(feature)
            if row is not None:
                for i, w in row:
                    scores[i] += w
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return [e / total for e in exps]

    def predict(self, features: Iterable[str]) -> tuple[str, float]:
        """(best class, its probability)."""
        probs = self.probabilities(features)
        best = max(range(len(probs)), key=probs.__getitem__)
        return self.classes[best], probs[best]

    def decide(self, features: Iterable[str]) -> tuple[str, float] | None:
        """The best class when its probability reaches the floor, else None."""
        label, p = self.predict(features)
        return (label, p) if p >= self.floor else None

    # -- files -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": "dtf-linear-model/1", "classes": list(self.classes), "bias": list(self.bias),
                "floor": self.floor, "meta": self.meta,
                "weights": {f: [[i, round(w, 4)] for i, w in row] for f, row in sorted(self.weights.items())}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LinearModel":
        if not isinstance(data, Mapping) or data.get("format") != "dtf-linear-model/1":
            raise ValueError("not a dtf linear model (format dtf-linear-model/1)")
        classes, weights = data["classes"], data["weights"]
        if not isinstance(weights, Mapping) or not isinstance(classes, list):
            raise ValueError("a model's classes must be a list and its weights a mapping")
        # one pass over the pairs' class indices (fast in C) instead of checking pair by pair
        indices = [pair[0] for row in weights.values() for pair in row]
        if indices and (min(indices) < 0 or max(indices) >= len(classes)):
            raise ValueError("a weight's class index is out of range")
        return cls(classes, data["bias"], weights, floor=float(data.get("floor", DEFAULT_FLOOR)),
                   meta=data.get("meta"), check=False)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "LinearModel":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read model: {exc}") from None
        return cls.from_dict(data)


def shipped_model() -> LinearModel | None:
    """The model shipped with the package, or None when it was not built."""
    package = resources.files("error_handling.knowledge")
    file = package.joinpath(MODEL_FILE)
    if not file.is_file():
        return None
    return LinearModel.from_dict(json.loads(file.read_text(encoding="utf-8")))
