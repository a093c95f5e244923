#!/usr/bin/env python3
"""Verify Keyward access tokens in a FastAPI service with python-jose.

``verify_token`` is plain Python (python-jose and the standard library); the FastAPI
dependency further down is defined only when FastAPI is installed. As a script:

    python3 fastapi_verifier.py --jwks-uri http://127.0.0.1:3000/.well-known/jwks.json \\
        --issuer keyward --audience keyward-api TOKEN
    python3 fastapi_verifier.py --secret-file /run/secrets/jwt_secret --algorithm HS256 \\
        --issuer keyward --audience keyward-api TOKEN

prints the verified claims as JSON and exits 0, or prints ``REJECTED: <reason>`` and
exits 1; a usage or configuration error exits 2. ``TOKEN`` may be ``-`` (standard input).

    python3 fastapi_verifier.py mint --secret-file PATH --issuer ISS --audience AUD \\
        --sub SUB [--roles user] [--ttl 300]

prints an HS256 token signed with the shared secret: what a service listed in Keyward's
``JWT_TRUSTED_ISSUERS`` (with that ``secret``) would send to Keyward.
"""

import argparse
import json
import os
import stat
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from jose import jwk, jwt
from jose.backends.base import Key
from jose.exceptions import JOSEError

# Algorithms are pinned per deployment: never taken from the token's own header.
ASYMMETRIC_ALGORITHMS = {"ES256": "EC", "RS256": "RSA"}  # algorithm -> JWK kty
SHARED_SECRET_ALGORITHM = "HS256"
# python-jose checks a claim only when it is present unless require_* is set.
DECODE_OPTIONS = {
    "require_exp": True,
    "require_iat": True,
    "require_sub": True,
    "require_iss": True,
    "require_aud": True,
    "leeway": 30,  # Keyward's own clock-skew tolerance
}
# RFC 9068 §4: a resource server checks that the token is an access token.
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
MIN_SECRET_BYTES = 32
MAX_JWKS_BYTES = 1 << 20
MAX_MINT_TTL_SECONDS = 24 * 3600


class TokenRejected(Exception):
    """The token is not a valid Keyward access token for this service."""


def load_secret(path: str | Path) -> bytes:
    """Read an HS256 shared secret (surrounding whitespace is ignored, as Keyward does)."""
    file = Path(path)
    if file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(f"warning: {file} is readable by other users; use mode 0600", file=sys.stderr)
    secret = file.read_bytes().strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the secret in {file} is shorter than {MIN_SECRET_BYTES} bytes")
    return secret


class JwksCache:
    """Keyward's public keys from its JWKS URI, fetched with urllib and kept ``lifespan`` s.

    An unknown ``kid`` (key rotation) refetches the set, at most once per ``cooldown`` s,
    so forged kids cannot turn the verifier into a request flood.
    """

    def __init__(
        self, uri: str, *, lifespan: float = 300, cooldown: float = 30, timeout: float = 5
    ) -> None:
        if not uri.startswith(("https://", "http://")):
            raise ValueError("the JWKS URI must be an http(s) URL")
        self.uri, self.lifespan, self.cooldown, self.timeout = uri, lifespan, cooldown, timeout
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        request = urllib.request.Request(self.uri, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            document = json.loads(response.read(MAX_JWKS_BYTES + 1)[:MAX_JWKS_BYTES])
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise ValueError("the JWKS has no keys array")
        self._keys = {
            entry["kid"]: entry
            for entry in keys
            if isinstance(entry, dict) and isinstance(entry.get("kid"), str)
        }
        self._fetched_at = time.monotonic()

    def key_for(self, kid: str, algorithm: str) -> Key:
        """The verification key named ``kid``, usable only with ``algorithm``."""
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if age > self.lifespan or (kid not in self._keys and age > self.cooldown):
                self._fetch()
            data = self._keys.get(kid)
        if data is None:
            raise TokenRejected(f"no key with kid {kid!r} in the JWKS")
        if data.get("kty") != ASYMMETRIC_ALGORITHMS.get(algorithm):
            raise TokenRejected(f"key {kid!r} is not an {algorithm} key")
        if data.get("use", "sig") != "sig" or data.get("alg", algorithm) != algorithm:
            raise TokenRejected(f"key {kid!r} is not for {algorithm} signatures")
        return jwk.construct(data, algorithm)


def verify_token(
    token: str,
    *,
    issuer: str,
    audience: str,
    algorithm: str = "ES256",
    jwks: JwksCache | None = None,
    secret: bytes | None = None,
) -> dict[str, Any]:
    """Return the claims of a valid Keyward access token, or raise TokenRejected.

    ES256/RS256 need ``jwks`` (keys picked by ``kid``); HS256 needs ``secret``.
    """
    if algorithm in ASYMMETRIC_ALGORITHMS and jwks is None:
        raise ValueError(f"{algorithm} needs a JwksCache")
    if algorithm == SHARED_SECRET_ALGORITHM and secret is None:
        raise ValueError("HS256 needs a shared secret")
    if algorithm not in (*ASYMMETRIC_ALGORITHMS, SHARED_SECRET_ALGORITHM):
        raise ValueError(f"unsupported algorithm {algorithm}")
    try:
        header = jwt.get_unverified_header(token)
        # Cheap checks first, so a forged header never triggers a JWKS fetch.
        if header.get("alg") != algorithm:
            raise TokenRejected(f"algorithm {header.get('alg')!r} is not allowed")
        if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
            raise TokenRejected("not an access token (typ is not at+jwt)")
        if jwks is not None:
            kid = header.get("kid")
            if not isinstance(kid, str):
                raise TokenRejected("the token names no kid")
            try:
                key = jwks.key_for(kid, algorithm)
            except (OSError, ValueError) as error:  # unreachable, timed out or not JSON
                raise TokenRejected(f"cannot use the JWKS: {error}") from error
        else:
            # An explicit HMAC key: python-jose then never guesses the key type.
            key = jwk.construct(secret, SHARED_SECRET_ALGORITHM)
        return jwt.decode(
            token,
            key,
            algorithms=[algorithm],  # pinned: the header's alg must be this one
            audience=audience,
            issuer=issuer,
            options=DECODE_OPTIONS,
        )
    except JOSEError as error:
        raise TokenRejected(str(error) or type(error).__name__) from error


def mint_token(
    secret: bytes,
    *,
    issuer: str,
    audience: str,
    subject: str,
    roles: list[str],
    ttl: int = 300,
) -> str:
    """An HS256 access token for a Keyward trusted issuer that shares ``secret``."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "exp": now + ttl,
        "jti": str(uuid.uuid4()),
        "roles": roles,
    }
    key = jwk.construct(secret, SHARED_SECRET_ALGORITHM)
    return jwt.encode(claims, key, algorithm=SHARED_SECRET_ALGORITHM, headers={"typ": "at+jwt"})


# --- FastAPI integration (optional) -----------------------------------------------------

try:
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
except ImportError:  # FastAPI absent: verify_token, mint_token and the CLI still work.
    FastAPI = None  # type: ignore[assignment,misc]

if FastAPI is not None:
    _bearer = HTTPBearer(auto_error=False)
    # One cache per process, so the key set is reused between requests.
    _jwks = JwksCache(
        os.environ.get("KEYWARD_JWKS_URI", "http://127.0.0.1:3000/.well-known/jwks.json")
    )

    def keyward_claims(
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> dict[str, Any]:
        """Dependency: the verified claims, or 401 with ``WWW-Authenticate: Bearer``."""
        if credentials is None:
            raise HTTPException(401, "Bearer token required", {"WWW-Authenticate": "Bearer"})
        try:
            return verify_token(
                credentials.credentials,
                issuer=os.environ.get("KEYWARD_ISSUER", "keyward"),
                audience=os.environ.get("KEYWARD_AUDIENCE", "keyward-api"),
                algorithm="ES256",
                jwks=_jwks,
            )
        except TokenRejected:
            # The reason stays in the server; the client learns only that the token failed.
            raise HTTPException(
                401, "Invalid token", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None

    app = FastAPI()

    @app.get("/whoami")
    def whoami(claims: dict[str, Any] = Depends(keyward_claims)) -> dict[str, Any]:
        """Example protected route."""
        return {"sub": claims["sub"], "roles": claims.get("roles", [])}


# --- Command line -------------------------------------------------------------------------


def _mint(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="fastapi_verifier.py mint", description="Mint an HS256 token with python-jose."
    )
    parser.add_argument("--secret-file", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--sub", required=True)
    parser.add_argument("--roles", default="user", help="comma list (default: user)")
    parser.add_argument("--ttl", type=int, default=300, help="lifetime in seconds")
    args = parser.parse_args(argv)
    if not 0 < args.ttl <= MAX_MINT_TTL_SECONDS:
        parser.error(f"--ttl must be between 1 and {MAX_MINT_TTL_SECONDS}")
    try:
        secret = load_secret(args.secret_file)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    roles = [role for role in args.roles.split(",") if role]
    print(
        mint_token(
            secret,
            issuer=args.issuer,
            audience=args.audience,
            subject=args.sub,
            roles=roles,
            ttl=args.ttl,
        )
    )
    return 0


def _verify(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Verify a Keyward access token with python-jose.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--jwks-uri", help="Keyward's /.well-known/jwks.json (ES256, RS256)")
    source.add_argument("--secret-file", help="file holding the HS256 shared secret")
    parser.add_argument("--algorithm", choices=[*ASYMMETRIC_ALGORITHMS, SHARED_SECRET_ALGORITHM])
    parser.add_argument("--issuer", default="keyward")
    parser.add_argument("--audience", default="keyward-api")
    parser.add_argument("token", help="the JWT, or - to read it from standard input")
    args = parser.parse_args(argv)

    algorithm = args.algorithm or ("HS256" if args.secret_file else "ES256")
    if args.secret_file and algorithm != SHARED_SECRET_ALGORITHM:
        parser.error("--secret-file goes with --algorithm HS256")
    if args.jwks_uri and algorithm not in ASYMMETRIC_ALGORITHMS:
        parser.error("--jwks-uri goes with --algorithm ES256 or RS256")
    try:
        jwks = JwksCache(args.jwks_uri) if args.jwks_uri else None
        secret = load_secret(args.secret_file) if args.secret_file else None
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    token = sys.stdin.read().strip() if args.token == "-" else args.token
    try:
        claims = verify_token(
            token,
            issuer=args.issuer,
            audience=args.audience,
            algorithm=algorithm,
            jwks=jwks,
            secret=secret,
        )
    except TokenRejected as rejection:
        print(f"REJECTED: {rejection}")
        return 1
    print(json.dumps(claims, indent=2, sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``mint ...`` mints a token; anything else verifies one."""
    args = sys.argv[1:] if argv is None else argv
    return _mint(args[1:]) if args[:1] == ["mint"] else _verify(args)


if __name__ == "__main__":
    sys.exit(main())
