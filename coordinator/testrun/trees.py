"""The working tree as a content-addressed archive (for workers that do not share the checkout).

Deterministic: sorted names, zeroed times and owners, gzip without a timestamp, so an unchanged
tree has the same SHA-256 and every worker's cached copy stays valid from run to run.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile
from pathlib import Path

from coordinator.client import ApiClient
from coordinator.testrun.collect import tree_files


def pack(root: Path) -> tuple[str, bytes]:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for rel in tree_files(root):
                path = root / rel
                if path.is_symlink() or not path.is_file():
                    continue
                info = tar.gettarinfo(str(path), arcname=rel.as_posix())
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
    data = buf.getvalue()
    return hashlib.sha256(data).hexdigest(), data


def upload(client: ApiClient, digest: str, data: bytes) -> bool:
    """Store the archive on the coordinator unless it is there already; True when sent."""
    if client.get(f"/api/v1/tree-status/{digest}").get("stored"):
        return False
    client.post("/api/v1/trees", {"sha256": digest, "archive_b64": base64.b64encode(data).decode()})
    return True
