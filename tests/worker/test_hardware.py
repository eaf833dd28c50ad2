"""Hardware detection, with fake nvidia-smi / rocm-smi scripts placed first on PATH."""
from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from worker.hardware import HardwareInfo, detect_hardware, parse_nvidia_smi

NVIDIA_ROWS = ("0, NVIDIA H100 80GB HBM3, 81559, 535.129.03, GPU-1a2b3c4d-0000-1111-2222-333344445555\n"
               "1, NVIDIA H100 80GB HBM3, 81559, 535.129.03, GPU-5e6f7a8b-0000-1111-2222-333344445555\n")
DRIVER_FAILURE = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                  "Make sure that the latest NVIDIA driver is installed and running.")


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch) -> Path:
    """An empty PATH of our own: only the fakes a test writes are found (sh stays reachable)."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", f"{path}:/bin:/usr/bin")
    return path


def fake_tool(bin_dir: Path, name: str, body: str) -> Path:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_cpu_only_machine(bin_dir):
    info = detect_hardware(include_packages=False)
    assert isinstance(info, HardwareInfo)
    assert info.types == ["cpu"] and info.gpus == [] and info.errors == []
    assert info.cpu_count >= 1 and info.memory_gb > 0
    assert info.python_version.count(".") == 2 and info.platform
    json.dumps(info.to_dict())


def test_packages_are_listed_lower_case():
    info = detect_hardware()
    assert "psutil" in info.packages and "pytest" in info.packages
    assert all(name == name.lower() for name in info.packages)


def test_nvidia_smi_output_is_parsed(bin_dir):
    fake_tool(bin_dir, "nvidia-smi", f"""
case "$*" in
  *--query-gpu=index,name,memory.total,driver_version,uuid*--format=csv,noheader,nounits*)
    printf '%s' "{NVIDIA_ROWS}" ;;
  *) echo "unexpected arguments: $*" >&2; exit 2 ;;
esac
""")
    info = detect_hardware(include_packages=False)
    assert info.types == ["cpu", "cuda"] and info.errors == []
    assert info.gpus[0] == {"backend": "cuda", "index": 0, "name": "NVIDIA H100 80GB HBM3",
                            "memory_total_mb": 81559, "driver": "535.129.03",
                            "uuid": "GPU-1a2b3c4d-0000-1111-2222-333344445555"}
    assert [g["index"] for g in info.gpus] == [0, 1]


def test_nvidia_smi_failure_is_recorded_not_raised(bin_dir):
    fake_tool(bin_dir, "nvidia-smi", f'echo "{DRIVER_FAILURE}"\nexit 9\n')
    info = detect_hardware(include_packages=False)
    assert info.types == ["cpu"] and info.gpus == []
    assert len(info.errors) == 1
    assert "exit code 9" in info.errors[0] and "couldn't communicate with the NVIDIA driver" in info.errors[0]


def test_nvidia_smi_unavailable_fields():
    gpus = parse_nvidia_smi("0, Tesla T4, [N/A], 470.57.02, GPU-abc\n\ngarbage line\n")
    assert gpus == [{"backend": "cuda", "index": 0, "name": "Tesla T4", "memory_total_mb": None,
                     "driver": "470.57.02", "uuid": "GPU-abc"}]


def test_rocm_smi_json_is_parsed(bin_dir):
    payload = json.dumps({"card0": {"Card series": "AMD Instinct MI250X", "Card model": "0x740c",
                                    "Card vendor": "Advanced Micro Devices, Inc. [AMD/ATI]"},
                          "system": {"Driver version": "6.2.4"}})
    fake_tool(bin_dir, "rocm-smi", f"echo '{payload}'\n")
    info = detect_hardware(include_packages=False)
    assert info.types == ["cpu", "rocm"]
    assert info.gpus[0]["name"] == "AMD Instinct MI250X" and info.gpus[0]["index"] == 0


def test_override_forces_types(bin_dir):
    assert detect_hardware("cpu,cuda", include_packages=False).types == ["cpu", "cuda"]
    assert detect_hardware("cuda", include_packages=False).types == ["cpu", "cuda"]  # cpu always
    fake_tool(bin_dir, "nvidia-smi", f"printf '%s' \"{NVIDIA_ROWS}\"\n")
    forced = detect_hardware("cpu", include_packages=False)
    assert forced.types == ["cpu"] and len(forced.gpus) == 2  # flags win; the facts stay visible
    assert detect_hardware("auto,webgpu", include_packages=False).types == ["cpu", "cuda", "webgpu"]
    with pytest.raises(ValueError, match="quantum"):
        detect_hardware("cpu,quantum")
