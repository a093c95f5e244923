#!/usr/bin/env python3
"""A Keyward machine client in Python: client_credentials, then verify the token via JWKS.

Standard library + PyJWT only. Configure with the environment (the secret never goes on the
command line, where ``ps`` shows it):

    KEYWARD_URL=https://keyward.corp.example   # Keyward's PUBLIC_URL
    KEYWARD_CLIENT_ID=...                      # from POST /api/v1/admin/clients
    KEYWARD_CLIENT_SECRET=kwcs_...
    python3 client_credentials.py [--scope chat] [--resource https://billing.corp.example] \
        [--algorithm ES256] [--introspect]

It reads Keyward's RFC 8414 metadata (absolute URLs under PUBLIC_URL), asks the token
endpoint for a token (client_secret_basic), verifies it with PyJWT's PyJWKClient against the
advertised ``jwks_uri`` as a receiving service would, and prints JSON:
``{"token": <token response without the token>, "claims": {...}, "introspection": {...}}``.
Exit 1 when Keyward refuses or the token does not verify; exit 2 on a configuration error.
"""

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import jwt

TIMEOUT_SECONDS = 5
LEEWAY_SECONDS = 30  # Keyward's own clock-skew tolerance
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")  # RFC 9068 §4


class Refused(Exception):
    """Keyward refused the request, or the token does not verify."""


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        return json.load(response)


def post_form(url: str, form: dict[str, str], client_id: str, secret: str) -> dict[str, Any]:
    """POST a form with client_secret_basic (RFC 6749 §2.3.1: both parts form-encoded)."""
    credentials = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={
            "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:  # RFC 6749 §5.2 body: {error, error_description}
        body = json.loads(error.read() or b"{}")
        raise Refused(f"{error.code} {body.get('error')}: {body.get('error_description')}") from None


def verify(
    token: str, jwks: jwt.PyJWKClient, issuer: str, audience: str, algorithms: list[str]
) -> dict[str, Any]:
    """What a receiving service does: pinned algorithm, issuer, audience, typ, 30 s leeway."""
    try:
        if str(jwt.get_unverified_header(token).get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
            raise Refused("not an access token")
        return jwt.decode(
            token,
            jwks.get_signing_key_from_jwt(token).key,
            algorithms=algorithms,
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError as error:
        raise Refused(f"token does not verify: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Get and verify a Keyward client_credentials token."
    )
    parser.add_argument("--scope", help="space-separated subset of the client's scopes")
    parser.add_argument("--resource", help="one of Keyward's JWT_RESOURCES (RFC 8707)")
    parser.add_argument("--audience", default="keyward-api", help="expected aud without --resource")
    parser.add_argument("--algorithm", default="ES256", choices=["ES256", "RS256"])
    parser.add_argument("--introspect", action="store_true", help="also ask Keyward (RFC 7662)")
    args = parser.parse_args(argv)
    try:
        base = os.environ["KEYWARD_URL"].rstrip("/")
        client_id = os.environ["KEYWARD_CLIENT_ID"]
        secret = os.environ["KEYWARD_CLIENT_SECRET"]
    except KeyError as missing:
        print(f"error: set {missing.args[0]}", file=sys.stderr)
        return 2

    metadata = get_json(f"{base}/.well-known/oauth-authorization-server")
    for name in ("token_endpoint", "jwks_uri"):
        if not metadata[name].startswith(("https://", "http://")):
            print(f"error: {name} is relative; set PUBLIC_URL on Keyward", file=sys.stderr)
            return 2
    form = {"grant_type": "client_credentials"}
    if args.scope:
        form["scope"] = args.scope
    if args.resource:
        form["resource"] = args.resource
    try:
        response = post_form(metadata["token_endpoint"], form, client_id, secret)
        token = response.pop("access_token")
        claims = verify(
            token,
            jwt.PyJWKClient(metadata["jwks_uri"]),
            issuer=metadata["issuer"],
            audience=args.resource or args.audience,
            algorithms=[args.algorithm],  # pinned by configuration, never read from the token
        )
        result: dict[str, Any] = {"token": response, "claims": claims}
        if args.introspect:
            result["introspection"] = post_form(
                metadata["introspection_endpoint"], {"token": token}, client_id, secret
            )
    except Refused as refusal:
        print(f"REFUSED: {refusal}")
        return 1
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
