"""Where the key ring comes from: configuration in prod, a generated key in dev and test.

Order: ``SVC_AUTH__HS256_SECRET`` (checked for strength) → ``SVC_AUTH__KEYS_FILE`` →
in ``dev``/``test`` only, ``<SVC_DATA_DIR>/auth-keys.json``, generated (Ed25519) on first
start and kept so that restarts keep tokens valid. In ``prod`` a missing ring is a
start-up error. :func:`rotate_key_file` adds a new signing key and keeps the old ones for
verification (``svc-infra auth rotate-keys``).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from svc_auth.tokens import KeyRing, generate_key
from svc_core.errors import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path

    from svc_auth.settings import AuthSettings
    from svc_core.settings import SvcSettings

__all__ = ["key_file_path", "load_key_ring", "rotate_key_file"]


def key_file_path(settings: AuthSettings, svc: SvcSettings) -> Path:
    """The key-ring file in use: ``SVC_AUTH__KEYS_FILE`` or ``<data_dir>/auth-keys.json``."""
    return settings.keys_file or (svc.data_dir / "auth-keys.json")


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    tmp.replace(path)


def load_key_ring(settings: AuthSettings, svc: SvcSettings) -> KeyRing:
    """The key ring the settings select (see the module docstring).

    Raises:
        ConfigurationError: No keys in prod, an unreadable file, a disallowed algorithm,
            or a weak HS256 secret.
    """
    allowed = frozenset(settings.algorithms)
    if settings.hs256_secret is not None:
        if "HS256" not in allowed:
            msg = "SVC_AUTH__HS256_SECRET is set but HS256 is not in SVC_AUTH__ALGORITHMS"
            raise ConfigurationError(msg)
        return KeyRing.hs256(settings.hs256_secret.get_secret_value())
    path = key_file_path(settings, svc)
    if settings.keys_file is not None or path.exists():
        return KeyRing.from_file(path, allowed)
    if svc.is_prod:
        msg = "no signing keys: set SVC_AUTH__KEYS_FILE (or SVC_AUTH__HS256_SECRET) in prod"
        raise ConfigurationError(msg)
    alg = "EdDSA" if "EdDSA" in allowed else "ES256"
    entry = generate_key(alg=alg)
    data = {"signing_kid": entry["kid"], "keys": [entry]}
    try:
        _write(path, data)
    except FileExistsError:  # pragma: no cover - another process won the race
        return KeyRing.from_file(path, allowed)
    return KeyRing.from_data(data, allowed)


def rotate_key_file(path: Path, *, alg: str = "EdDSA", keep: int = 2) -> str:
    """Add a new signing key to the ring file, keeping the ``keep`` newest old ones.

    Old keys stay (verification only) so tokens they signed keep working until they
    expire; restart or reload every replica after rotating.

    Returns:
        The new key's ``kid``.
    """
    data: dict[str, Any] = {"keys": []}
    if path.exists():
        data = json.loads(path.read_text())
    entry = generate_key(alg=alg)
    old = [k for k in data.get("keys", []) if k.get("kid") != entry["kid"]][:keep]
    _write(path, {"signing_kid": entry["kid"], "keys": [entry, *old]})
    return entry["kid"]
