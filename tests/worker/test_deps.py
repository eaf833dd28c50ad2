"""Declared packages are checked on the worker; installed only with --allow-install."""
from __future__ import annotations

from worker.deps import distribution_name, ensure_packages, missing_packages


def test_distribution_names_from_requirements():
    assert distribution_name("torch>=2.1") == "torch"
    assert distribution_name("pytest[testing]==8.0") == "pytest"
    assert distribution_name(" numpy ") == "numpy"


def test_missing_packages_found_by_metadata():
    assert missing_packages(["pytest>=7", "aiohttp"]) == []
    assert missing_packages(["pytest", "dtf-no-such-package-xyz"]) == ["dtf-no-such-package-xyz"]


async def test_missing_package_without_install_is_a_dependency_error():
    assert await ensure_packages(["pytest"], allow_install=False) is None
    error = await ensure_packages(["dtf-no-such-package-xyz>=1"], allow_install=False)
    assert error["type"] == "importlib.metadata.PackageNotFoundError"
    assert "dtf-no-such-package-xyz" in error["message"] and "--allow-install" in error["message"]
    from error_handling import DistributedErrorHandler
    assert DistributedErrorHandler().categorize_error(error).value == "test_dependency_error"
