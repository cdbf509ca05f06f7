"""TEST-CATALOGUE rows JW-03, JW-04, JW-05, JW-08 over HTTP, plus key-ring configuration."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from svc_auth_testkit import AppFactory, AuthClient, bearer, unique_email

from svc_auth import AuthSettings, KeyRing, WeakSecretError, check_hs256_secret, generate_key
from svc_auth.errors import InvalidTokenError
from svc_auth.keys import load_key_ring, rotate_key_file
from svc_auth.tokens import JWTCodec
from svc_core.errors import ConfigurationError
from svc_core.settings import SvcSettings


async def session_claims(api: AuthClient) -> dict[str, Any]:
    """Claims of a real, live session's access token."""
    email = unique_email()
    await api.register(email)
    pair = await api.login(email)
    return dict(jwt.decode(pair["access_token"], options={"verify_signature": False}))


def sign(api: AuthClient, claims: dict[str, Any], **header: Any) -> str:
    key = api.service.codec.ring.signing
    return jwt.encode(claims, key.signer, algorithm=key.alg, headers={"kid": key.kid, **header})


async def status(api: AuthClient, token: str) -> int:
    return (await api.client.get("/auth/me", headers=bearer(token))).status_code


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_jw03_tampering_is_401_never_500(api: AuthClient) -> None:
    claims = await session_claims(api)
    token = sign(api, claims)
    assert await status(api, token) == 200
    head, payload, sig = token.split(".")
    forged = b64(json.dumps({**claims, "roles": ["admin"]}).encode())
    for bad in (
        f"{head}.{forged}.{sig}",
        f"{head}.{payload}.{sig[:-4]}",
        f"{head}.{payload}.",
        f"{token}.{sig}",
        f"{head}.{payload}!!.{sig}",
        "not-a-jwt",
        "...",
        f"{b64(b'{}')}.{payload}.{sig}",
    ):
        assert await status(api, bad) == 401, bad


async def test_jw03_alg_none_and_confusion(api: AuthClient) -> None:
    claims = await session_claims(api)
    kid = api.service.codec.ring.signing_kid
    none_token = (
        f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': kid}).encode())}."
        f"{b64(json.dumps(claims).encode())}."
    )
    assert await status(api, none_token) == 401
    # HS256 signed with the public key's PEM bytes (algorithm confusion)
    from cryptography.hazmat.primitives import serialization

    public = api.service.codec.ring.signing.verifier
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    import hashlib
    import hmac

    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert await status(api, f"{signing_input}.{b64(mac)}") == 401
    # a kid nobody configured, or a jku/jwk header, is never followed
    assert await status(api, sign(api, claims, kid="someone-elses")) == 401
    other = generate_key("intruder")
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    foreign = jwt.encode(
        claims,
        load_pem_private_key(other["private_key"].encode(), None),  # type: ignore[arg-type]
        algorithm="EdDSA",
        headers={"kid": kid, "jku": "https://attacker.example/keys"},
    )
    assert await status(api, foreign) == 401


async def test_jw04_time_claims_with_leeway(api: AuthClient) -> None:
    claims = await session_claims(api)
    now = int(api.clock())
    leeway = api.service.settings.leeway
    assert leeway == 30
    assert await status(api, sign(api, {**claims, "exp": now - (leeway + 1)})) == 401
    assert await status(api, sign(api, {**claims, "exp": now - (leeway - 1)})) == 200
    assert await status(api, sign(api, {**claims, "nbf": now + leeway + 1})) == 401
    no_exp = {k: v for k, v in claims.items() if k != "exp"}
    assert await status(api, sign(api, no_exp)) == 401
    # a cached token still expires on time
    token = sign(api, {**claims, "exp": now + 60})
    assert await status(api, token) == 200
    api.clock.advance(60 + leeway + 1)
    assert await status(api, token) == 401


async def test_jw05_audience_and_issuer(api: AuthClient) -> None:
    claims = await session_claims(api)
    aud = claims["aud"]
    no_aud = {k: v for k, v in claims.items() if k != "aud"}
    for bad in (
        no_aud,
        {**claims, "aud": "another-service"},
        {**claims, "aud": ["another-service", "third"]},
        {**claims, "iss": "https://evil.example"},
        {**claims, "typ": "verify"},
        {**claims, "typ": "reset"},
        {k: v for k, v in claims.items() if k != "typ"},
    ):
        assert await status(api, sign(api, bad)) == 401
    assert await status(api, sign(api, {**claims, "aud": ["another-service", aud]})) == 200


async def test_jw08_rotation(api: AuthClient) -> None:
    claims = await session_claims(api)
    allowed = frozenset({"EdDSA", "ES256"})
    k1, k2 = generate_key("k1"), generate_key("k2", alg="ES256")
    api.service.use_keys(KeyRing.from_data({"signing_kid": "k1", "keys": [k1]}, allowed))
    old = sign(api, claims)
    # rotate: k2 signs, k1 still verifies (overlap)
    api.service.use_keys(KeyRing.from_data({"signing_kid": "k2", "keys": [k2, k1]}, allowed))
    new = sign(api, claims)
    assert jwt.get_unverified_header(new)["kid"] == "k2"
    assert await status(api, new) == 200
    assert await status(api, old) == 200
    # k1 retired
    api.service.use_keys(KeyRing.from_data({"signing_kid": "k2", "keys": [k2]}, allowed))
    assert await status(api, old) == 401
    assert await status(api, new) == 200
    # tokens the service issues after rotation carry the new kid and work
    email = unique_email()
    await api.register(email)
    pair = await api.login(email)
    assert jwt.get_unverified_header(pair["access_token"])["kid"] == "k2"
    assert await status(api, pair["access_token"]) == 200


@pytest.mark.parametrize(
    "secret",
    ["0123456789abcdef", "secretsecretsecretsecretsecretsecret", "a" * 64, "password" * 5],
)
async def test_jw08_weak_hs256_secret_fails_at_startup(make_app: AppFactory, secret: str) -> None:
    with pytest.raises(WeakSecretError):
        check_hs256_secret(secret)
    with pytest.raises(ConfigurationError):
        await make_app(algorithms="HS256", hs256_secret=secret)


async def test_hs256_with_a_strong_secret_works(make_app: AppFactory) -> None:
    api: AuthClient = await make_app(
        algorithms="HS256", hs256_secret="Vq3x9Zr-Lm2Kp8Tn4Wc7Yb1Hd6Fg0Js5"
    )
    email = unique_email()
    await api.register(email)
    pair = await api.login(email)
    assert jwt.get_unverified_header(pair["access_token"])["alg"] == "HS256"
    assert await status(api, pair["access_token"]) == 200


def test_key_ring_configuration(tmp_path: Path) -> None:
    svc_dev = SvcSettings(env="dev", data_dir=tmp_path / "dev")
    ring = load_key_ring(AuthSettings(), svc_dev)
    again = load_key_ring(AuthSettings(), svc_dev)  # persisted: restarts keep tokens valid
    assert ring.signing_kid == again.signing_kid
    assert ring.signing.alg == "EdDSA"
    assert (tmp_path / "dev" / "auth-keys.json").stat().st_mode & 0o077 == 0
    with pytest.raises(ConfigurationError):
        load_key_ring(AuthSettings(), SvcSettings(env="prod", data_dir=tmp_path / "prod"))
    with pytest.raises(ConfigurationError):  # HS256 secret without HS256 allowed
        load_key_ring(AuthSettings(hs256_secret="Vq3x9Zr-Lm2Kp8Tn4Wc7Yb1Hd6Fg0Js5"), svc_dev)
    with pytest.raises(ConfigurationError):
        AuthSettings(algorithms="none")
    with pytest.raises(ConfigurationError):
        AuthSettings(algorithms="EdDSA,RS256")
    path = tmp_path / "ring.json"
    first = rotate_key_file(path)
    second = rotate_key_file(path)
    ring = KeyRing.from_file(path, frozenset({"EdDSA"}))
    assert ring.signing_kid == second
    assert set(ring.keys) == {first, second}
    assert (
        load_key_ring(AuthSettings(keys_file=path), SvcSettings(env="prod")).signing_kid == second
    )


def test_access_ttl_is_bounded() -> None:
    from pydantic import ValidationError

    for bad in (60, 3600):
        with pytest.raises(ValidationError):
            AuthSettings(access_ttl=bad)
    assert AuthSettings().access_ttl == 900
    assert AuthSettings().refresh_idle_ttl == 1800
    assert AuthSettings().refresh_absolute_ttl == 43200
    assert AuthSettings().refresh_reuse_grace == 0


_codec = JWTCodec(
    KeyRing.from_data({"signing_kid": "p", "keys": [generate_key("p")]}, frozenset({"EdDSA"})),
    issuer="iss",
    audience="aud",
)
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=_text.filter(bool),
    typ=st.sampled_from(["access", "verify", "reset"]),
    extra=st.dictionaries(
        st.text(min_size=1, max_size=8).filter(
            lambda k: k not in {"iss", "aud", "sub", "iat", "nbf", "exp", "jti", "typ"}
        ),
        _text,
        max_size=4,
    ),
    ttl=st.integers(min_value=1, max_value=10_000),
)
def test_token_round_trip(subject: str, typ: Any, extra: dict[str, str], ttl: int) -> None:
    token, claims = _codec.encode(typ, subject, ttl, claims=extra)
    decoded = _codec.decode(token, typ)
    assert decoded == claims
    assert decoded["sub"] == subject
    for other in {"access", "verify", "reset"} - {typ}:
        with pytest.raises(InvalidTokenError):
            _codec.decode(token, other)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(junk=st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_garbage_never_decodes(junk: str) -> None:
    with pytest.raises(InvalidTokenError):
        _codec.decode(junk, "access")
