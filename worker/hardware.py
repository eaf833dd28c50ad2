"""What this worker can run on: CPU always, CUDA/ROCm GPUs when their tools see devices, MPS on
Apple silicon, WebGPU only when declared. ``--hardware`` overrides what detection finds.

Blocking (it runs nvidia-smi / rocm-smi): call it once at start-up, off the event loop.
"""
from __future__ import annotations

import csv
import functools
import json
import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from importlib import metadata
from typing import Any

import psutil

_TOOL_TIMEOUT_SECONDS = 10.0
_NVIDIA_QUERY = ["--query-gpu=index,name,memory.total,driver_version,uuid",
                 "--format=csv,noheader,nounits"]
_AUTO = "auto"


class HardwareType(StrEnum):
    CPU = "cpu"
    CUDA = "cuda"
    ROCM = "rocm"
    MPS = "mps"
    WEBGPU = "webgpu"  # cannot be probed from a headless Python process: declared only


@dataclass(frozen=True, kw_only=True)
class HardwareInfo:
    types: list[str]
    cpu_count: int
    memory_gb: float
    gpus: list[dict[str, Any]] = field(default_factory=list)
    python_version: str = ""
    platform: str = ""
    packages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run_tool(argv: list[str]) -> tuple[str | None, str | None]:
    """(stdout, None) on success, (None, what went wrong) otherwise."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_TOOL_TIMEOUT_SECONDS,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return None, f"{argv[0]}: timed out after {_TOOL_TIMEOUT_SECONDS:g} s"
    except OSError as exc:
        return None, f"{argv[0]}: {type(exc).__name__}: {exc}"
    if done.returncode != 0:
        text = (done.stdout + "\n" + done.stderr).strip() or f"exit code {done.returncode}"
        return None, f"{os.path.basename(argv[0])} failed (exit code {done.returncode}): {text}"
    return done.stdout, None


def _optional_number(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def parse_nvidia_smi(output: str) -> list[dict[str, Any]]:
    """Rows of ``index, name, memory.total, driver_version, uuid`` (csv, noheader, nounits)."""
    gpus = []
    for row in csv.reader(output.splitlines(), skipinitialspace=True):
        if len(row) < 5:
            continue
        index, name, memory, driver, uuid = (part.strip() for part in row[:5])
        gpus.append({"backend": HardwareType.CUDA.value, "index": _optional_number(index),
                     "name": name, "memory_total_mb": _optional_number(memory),
                     "driver": driver, "uuid": uuid})
    return gpus


def parse_rocm_smi(output: str) -> list[dict[str, Any]]:
    """``rocm-smi --showproductname --json``: {"card0": {"Card series": ..., ...}, ...}."""
    data = json.loads(output)
    gpus = []
    for key, card in sorted(data.items()):
        if not key.startswith("card") or not isinstance(card, dict):
            continue
        digits = key[len("card"):]
        gpus.append({"backend": HardwareType.ROCM.value,
                     "index": int(digits) if digits.isdigit() else None,
                     "name": card.get("Card series") or card.get("Card model") or "",
                     "memory_total_mb": None, "driver": card.get("Driver version"), "uuid": None})
    return gpus


def _detect_gpus(errors: list[str]) -> tuple[set[HardwareType], list[dict[str, Any]]]:
    found: set[HardwareType] = set()
    gpus: list[dict[str, Any]] = []
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is not None:
        out, err = _run_tool([nvidia_smi, *_NVIDIA_QUERY])
        if err is not None:
            errors.append(err)  # e.g. "NVIDIA-SMI has failed because it couldn't communicate..."
        else:
            cuda = parse_nvidia_smi(out or "")
            if cuda:
                found.add(HardwareType.CUDA)
                gpus.extend(cuda)
            else:
                errors.append("nvidia-smi: no GPUs listed")
    rocm_smi = shutil.which("rocm-smi")
    if rocm_smi is not None:
        out, err = _run_tool([rocm_smi, "--showproductname", "--json"])
        if err is not None:
            errors.append(err)
        else:
            try:
                rocm = parse_rocm_smi(out or "")
            except (ValueError, AttributeError) as exc:
                errors.append(f"rocm-smi: unreadable output: {type(exc).__name__}: {exc}")
                rocm = []
            if rocm:
                found.add(HardwareType.ROCM)
                gpus.extend(rocm)
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        found.add(HardwareType.MPS)
    return found, gpus


@functools.lru_cache(maxsize=1)
def installed_packages() -> tuple[str, ...]:
    """Names of installed distributions, lower-cased (cached: the environment is fixed for the
    life of the worker, and scanning site-packages takes tens of milliseconds)."""
    names = {(dist.metadata["Name"] or "").lower() for dist in metadata.distributions()}
    names.discard("")
    return tuple(sorted(names))


def parse_override(override: str) -> tuple[bool, set[HardwareType]]:
    """"cpu,cuda" -> (False, {CPU, CUDA}); "auto,webgpu" -> (True, {WEBGPU})."""
    auto, declared = False, set()
    for token in (t.strip().lower() for t in override.split(",")):
        if not token:
            continue
        if token == _AUTO:
            auto = True
            continue
        try:
            declared.add(HardwareType(token))
        except ValueError:
            valid = ", ".join([_AUTO, *(t.value for t in HardwareType)])
            raise ValueError(f"hardware: unknown type {token!r}; valid: {valid}") from None
    return auto, declared


def detect_hardware(override: str | None = _AUTO, *, include_packages: bool = True) -> HardwareInfo:
    auto, declared = parse_override(override) if override else (True, set())
    errors: list[str] = []
    detected, gpus = _detect_gpus(errors)
    chosen = (detected | declared) if auto else declared
    chosen.add(HardwareType.CPU)
    order = list(HardwareType)
    return HardwareInfo(
        types=[t.value for t in sorted(chosen, key=order.index)],
        cpu_count=os.cpu_count() or 1,
        memory_gb=round(psutil.virtual_memory().total / 1024 ** 3, 2),
        gpus=gpus,
        python_version=platform.python_version(),
        platform=platform.platform(),
        packages=list(installed_packages()) if include_packages else [],
        errors=errors,
    )
