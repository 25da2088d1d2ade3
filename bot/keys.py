"""Per-workspace pinning keys, encrypted at rest with Fernet.

`PINBOT_ENCRYPTION_KEY` holds one or more Fernet keys, comma-separated: the first encrypts,
all decrypt (MultiFernet), so a new key can be put in front and `pinbot keys rotate`
re-encrypts every stored pair with it before the old one is removed.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr


class KeyVaultError(Exception):
    """Stored keys cannot be decrypted with the configured PINBOT_ENCRYPTION_KEY."""


def parse_keys(value: str) -> list[str]:
    """Validate a comma list of Fernet keys; raise ValueError naming the bad position."""
    keys = [k.strip() for k in value.split(",") if k.strip()]
    if not keys:
        raise ValueError("needs at least one Fernet key")
    for i, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ValueError(
                f"key {i} is not a Fernet key (32 url-safe base64 bytes; "
                "make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from None
    return keys


class KeyVault:
    def __init__(self, keys: SecretStr) -> None:
        self._fernet = MultiFernet([Fernet(k.encode())
                                    for k in parse_keys(keys.get_secret_value())])

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> SecretStr:
        try:
            return SecretStr(self._fernet.decrypt(token.encode()).decode())
        except InvalidToken:
            raise KeyVaultError(
                "stored pinning keys cannot be decrypted with PINBOT_ENCRYPTION_KEY "
                "(was the key that encrypted them removed?)"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt with the primary (first) key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise KeyVaultError("a stored key cannot be decrypted for rotation") from None


def last4(secret: str) -> str:
    return secret[-4:] if len(secret) >= 8 else "…"
