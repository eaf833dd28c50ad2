"""Tokens kept in files: generated on first use (0600), read on every later start.

``dtf up`` and the compose deployment start with no token given; rather than run an open
coordinator (any web page the user visits could then submit commands), they generate both tokens
into the data directory. The CLI finds the API token and the coordinator's address there.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

API_TOKEN_FILE = "api_token"
WORKER_TOKEN_FILE = "worker_token"
ADDRESS_FILE = "coordinator.json"
# Values copied from examples and docs; a coordinator reachable from other hosts refuses them.
PLACEHOLDERS = frozenset({"secret", "token", "password", "test", "xxx", "todo", "dtf"})
PLACEHOLDER_PARTS = ("changeme", "change-me", "change_me", "replace-me", "replace_me", "replaceme", "example",
                     "placeholder", "your-token", "your_token", "<")
MIN_PUBLIC_TOKEN_CHARS = 16


class TokenFileError(OSError):
    pass


def new_token() -> str:
    return secrets.token_urlsafe(32)


def read_or_create(path: str | os.PathLike[str]) -> str:
    """The token in ``path``; a new one written there (mode 0600, parents 0700) when it is absent."""
    p = Path(path)
    try:
        return _read(p)
    except FileNotFoundError:
        pass
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = new_token()
    try:
        # O_EXCL: two processes starting at once agree on the first one's token.
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(p)
    except OSError as exc:
        raise TokenFileError(f"cannot write token file {p}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token


def read(path: str | os.PathLike[str]) -> str:
    try:
        return _read(Path(path))
    except FileNotFoundError:
        raise TokenFileError(f"token file {path} does not exist") from None


def _read(p: Path) -> str:
    try:
        token = p.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise TokenFileError(f"cannot read token file {p}: {exc.strerror or exc}") from None
    if not token:
        raise TokenFileError(f"token file {p} is empty")
    return token


def weakness(token: str) -> str | None:
    """Why a token is too weak for a coordinator other hosts can reach, or None."""
    lowered = token.strip().lower()
    if lowered in PLACEHOLDERS or any(part in lowered for part in PLACEHOLDER_PARTS):
        return "is a placeholder"
    if len(token) < MIN_PUBLIC_TOKEN_CHARS:
        return f"is shorter than {MIN_PUBLIC_TOKEN_CHARS} characters"
    return None


def write_address(data_dir: str | os.PathLike[str], url: str) -> None:
    p = Path(data_dir) / ADDRESS_FILE
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url}) + "\n", encoding="utf-8")
    os.replace(tmp, p)


def read_address(data_dir: str | os.PathLike[str]) -> str | None:
    try:
        data = json.loads((Path(data_dir) / ADDRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = data.get("url") if isinstance(data, dict) else None
    return url if isinstance(url, str) else None
