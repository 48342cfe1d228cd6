"""Optional bearer-key authentication. Keys are compared in constant time and never logged."""

from __future__ import annotations

import hmac

from pydantic import SecretStr

from service.errors import Unauthorized


def check_bearer(authorization: str | None, keys: list[SecretStr]) -> None:
    """Raise ``Unauthorized`` unless ``authorization`` is ``Bearer <one of keys>``.

    No keys configured means authentication is off.
    """
    if not keys:
        return
    if not authorization:
        raise Unauthorized("this route needs an API key: send 'Authorization: Bearer <key>'")
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <key>'")
    given = presented.strip().encode()
    # Compare against every key, so timing says nothing about which one (if any) matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.get_secret_value().encode())
    if not matched:
        raise Unauthorized("the API key is not valid")
