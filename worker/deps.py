"""A task's declared packages: checked on the worker before it runs; installed only when allowed."""
from __future__ import annotations

import asyncio
import re
import sys
from importlib import metadata
from typing import Any

INSTALL_TIMEOUT_SECONDS = 600.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def distribution_name(requirement: str) -> str:
    m = _NAME.match(requirement.strip())
    return m.group(0) if m else requirement.strip()


def missing_packages(requirements: list[str]) -> list[str]:
    missing = []
    for req in requirements:
        try:
            metadata.version(distribution_name(req))
        except metadata.PackageNotFoundError:
            missing.append(req)
    return missing


async def ensure_packages(requirements: list[str], *, allow_install: bool) -> dict[str, Any] | None:
    """None when every declared package is present (after installing, if allowed); else an error dict."""
    missing = missing_packages(requirements)
    if not missing:
        return None
    if not allow_install:
        return {"type": "importlib.metadata.PackageNotFoundError",
                "message": f"No package metadata was found for {', '.join(missing)} "
                           "(declared by the task; this worker does not install packages: --allow-install)",
                "context": {"stage": "dependencies"}}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *missing,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), INSTALL_TIMEOUT_SECONDS)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return {"type": "TimeoutError", "message": f"pip install {' '.join(missing)} took over "
                f"{INSTALL_TIMEOUT_SECONDS:.0f}s", "context": {"stage": "dependencies"}}
    text = out.decode(errors="replace")
    still = missing_packages(requirements)
    if proc.returncode != 0 or still:
        tail = "\n".join(text.strip().splitlines()[-5:])
        return {"type": "PipInstallError", "message": tail or f"pip exited with {proc.returncode}",
                "exit_code": proc.returncode, "stderr": text[-4000:], "context": {"stage": "dependencies"}}
    return None
