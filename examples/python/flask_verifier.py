#!/usr/bin/env python3
"""Verify Keyward access tokens in a Flask service with PyJWT.

``verify_token`` is plain Python (PyJWT only); the Flask decorator further down is
defined only when Flask is installed. Run as a script it verifies one token:

    python3 flask_verifier.py --jwks-uri http://127.0.0.1:3000/.well-known/jwks.json \\
        --issuer keyward --audience keyward-api TOKEN
    python3 flask_verifier.py --secret-file /run/secrets/jwt_secret --algorithm HS256 \\
        --issuer keyward --audience keyward-api TOKEN

It prints the verified claims as JSON and exits 0, or prints ``REJECTED: <reason>``
and exits 1; a usage or configuration error exits 2. ``TOKEN`` may be ``-`` to read
the token from standard input (a token on the command line shows in ``ps``).
"""

import argparse
import functools
import inspect
import json
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import jwt
from jwt import PyJWKClient

# Algorithms are pinned per deployment: never taken from the token's own header.
ASYMMETRIC_ALGORITHMS = ("ES256", "RS256")
SHARED_SECRET_ALGORITHM = "HS256"
# PyJWT raises MissingRequiredClaimError when any of these is absent.
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]
# RFC 9068 §4: a resource server checks that the token is an access token.
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
LEEWAY_SECONDS = 30  # Keyward's own clock-skew tolerance
MIN_SECRET_BYTES = 32
JWKS_TIMEOUT_SECONDS = 5
JWKS_LIFESPAN_SECONDS = 300  # Keyward serves the JWKS with max-age=300


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


def make_jwks_client(jwks_uri: str) -> PyJWKClient:
    """A cached JWKS client; with a network timeout where the installed PyJWT offers one."""
    if not jwks_uri.startswith(("https://", "http://")):
        raise ValueError("the JWKS URI must be an http(s) URL")
    options: dict[str, Any] = {"lifespan": JWKS_LIFESPAN_SECONDS}
    if "timeout" in inspect.signature(PyJWKClient).parameters:  # PyJWT >= 2.7
        options["timeout"] = JWKS_TIMEOUT_SECONDS
    return PyJWKClient(jwks_uri, **options)


def verify_token(
    token: str,
    *,
    issuer: str,
    audience: str,
    algorithm: str = "ES256",
    jwks_client: PyJWKClient | None = None,
    secret: bytes | None = None,
) -> dict[str, Any]:
    """Return the claims of a valid Keyward access token, or raise TokenRejected.

    ES256/RS256 need ``jwks_client`` (keys picked by ``kid``); HS256 needs ``secret``.
    """
    if algorithm in ASYMMETRIC_ALGORITHMS and jwks_client is None:
        raise ValueError(f"{algorithm} needs a JWKS client")
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
        key: Any = secret if jwks_client is None else _signing_key(jwks_client, header)
        return jwt.decode(
            token,
            key,
            algorithms=[algorithm],  # pinned: the header's alg must be this one
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.PyJWTError as error:  # includes PyJWKClientError (unknown kid, fetch failed)
        raise TokenRejected(str(error) or type(error).__name__) from error


def _signing_key(jwks_client: PyJWKClient, header: dict[str, Any]) -> Any:
    """The public key named by the header's ``kid`` (the payload stays unparsed until verified)."""
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise TokenRejected("the token names no kid")
    try:
        return jwks_client.get_signing_key(kid).key
    except (OSError, ValueError) as error:  # read timeout, or a body that is not JSON
        raise TokenRejected(f"cannot use the JWKS: {error}") from error


# --- Flask integration (optional) -------------------------------------------------------

try:
    import flask
except ImportError:  # Flask absent: verify_token and the CLI still work.
    flask = None  # type: ignore[assignment]

View = TypeVar("View", bound=Callable[..., Any])

if flask is not None:

    def require_keyward_token(verify: Callable[[str], dict[str, Any]]) -> Callable[[View], View]:
        """Decorator: 401 unless a valid Bearer token is sent; its claims go in ``g.claims``."""

        def unauthorized(error: str | None) -> Any:
            response = flask.jsonify({"error": error or "unauthenticated"})
            response.status_code = 401
            # RFC 6750 §3: no error code when no token was sent; the reason is only logged.
            response.headers["WWW-Authenticate"] = f'Bearer error="{error}"' if error else "Bearer"
            return response

        def decorator(view: View) -> View:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                scheme, _, token = flask.request.headers.get("Authorization", "").partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    return unauthorized(None)
                try:
                    flask.g.claims = verify(token.strip())
                except TokenRejected as rejection:
                    flask.current_app.logger.info("token rejected: %s", rejection)
                    return unauthorized("invalid_token")
                return view(*args, **kwargs)

            return wrapper  # type: ignore[return-value]

        return decorator

    def create_app() -> "flask.Flask":
        """Example app; configure with KEYWARD_JWKS_URI, KEYWARD_ISSUER, KEYWARD_AUDIENCE."""
        app = flask.Flask(__name__)
        verify = functools.partial(
            verify_token,
            issuer=os.environ.get("KEYWARD_ISSUER", "keyward"),
            audience=os.environ.get("KEYWARD_AUDIENCE", "keyward-api"),
            algorithm="ES256",
            # One client per process, so the key set is cached between requests.
            jwks_client=make_jwks_client(os.environ["KEYWARD_JWKS_URI"]),
        )

        @app.get("/whoami")
        @require_keyward_token(verify)
        def whoami() -> Any:
            claims = flask.g.claims
            return {"sub": claims["sub"], "roles": claims.get("roles", [])}

        return app


# --- Command line -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Verify one token; print its claims (exit 0) or ``REJECTED: reason`` (exit 1)."""
    parser = argparse.ArgumentParser(description="Verify a Keyward access token with PyJWT.")
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
        jwks_client = make_jwks_client(args.jwks_uri) if args.jwks_uri else None
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
            jwks_client=jwks_client,
            secret=secret,
        )
    except TokenRejected as rejection:
        print(f"REJECTED: {rejection}")
        return 1
    print(json.dumps(claims, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
