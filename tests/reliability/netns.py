"""A worker's own network namespace joined to the host by a veth pair, for real partitions.

The pair gets a private /30 (10.200.0.0/16, chosen at random and checked unused), so the traffic
never leaves this machine's namespaces. Cutting the link is `ip link set down` on the namespace
side: packets are dropped both ways and neither end sees a close or a reset, exactly as with a
pulled cable or a dead switch port.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass

import pytest


class NetnsUnavailable(Exception):
    """This machine cannot give a test its own namespace (no `ip`, not root, or refused)."""


def _ip(*args: str, netns: str | None = None) -> str:
    cmd = ["ip", *(["netns", "exec", netns, "ip"] if netns else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class VethNamespace:
    name: str
    host_if: str
    ns_if: str
    host_addr: str
    ns_addr: str

    @classmethod
    def create(cls) -> "VethNamespace":
        tag = f"{os.getpid() % 10000:04d}{random.randrange(16 ** 4):04x}"
        used = _ip("-o", "-4", "addr", "show")
        for _ in range(50):
            third, block = random.randrange(256), random.randrange(64) * 4
            host_addr, ns_addr = f"10.200.{third}.{block + 1}", f"10.200.{third}.{block + 2}"
            if f" {host_addr}/" not in used and f" {ns_addr}/" not in used:
                break
        else:
            raise RuntimeError("no free /30 found in 10.200.0.0/16")
        ns = cls(name=f"dtfp{tag}", host_if=f"dtfh{tag}", ns_if=f"dtfn{tag}", host_addr=host_addr, ns_addr=ns_addr)
        try:
            _ip("netns", "add", ns.name)
            _ip("link", "add", ns.host_if, "type", "veth", "peer", "name", ns.ns_if)
            _ip("link", "set", ns.ns_if, "netns", ns.name)
            _ip("addr", "add", f"{host_addr}/30", "dev", ns.host_if)
            _ip("link", "set", ns.host_if, "up")
            _ip("addr", "add", f"{ns_addr}/30", "dev", ns.ns_if, netns=ns.name)
            _ip("link", "set", "lo", "up", netns=ns.name)
            _ip("link", "set", ns.ns_if, "up", netns=ns.name)
        except BaseException:
            ns.delete()
            raise
        return ns

    def exec_prefix(self) -> list[str]:
        """Prefix a command with this to run it inside the namespace (the pid stays the same: ip execs)."""
        return ["ip", "netns", "exec", self.name]

    def cut(self) -> None:
        _ip("link", "set", "dev", self.ns_if, "down", netns=self.name)

    def heal(self) -> None:
        _ip("link", "set", "dev", self.ns_if, "up", netns=self.name)

    def delete(self) -> None:
        # Deleting the namespace destroys its veth end, and with it the host end.
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, timeout=10)


def netns_or_skip() -> VethNamespace:
    """A fresh namespace, or a skip that says why. Under CI, as root with `ip`, a failure fails."""
    if shutil.which("ip") is None:
        pytest.skip("network partition tests need the `ip` binary (iproute2)")
    if os.geteuid() != 0:
        pytest.skip("network partition tests need root to create network namespaces")
    try:
        return VethNamespace.create()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs as root with `ip`, yet the network namespace could not be made: {exc}")
        pytest.skip(f"network namespaces are not permitted here: {exc}")
