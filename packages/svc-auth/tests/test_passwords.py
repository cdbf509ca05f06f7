"""Password hashing and policy at library level (PW-01, PW-02, PW-04, PW-06, PW-07)."""

from __future__ import annotations

import asyncio
import base64
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from svc_auth.breach import BundledListChecker
from svc_auth.errors import PasswordPolicyError, SvcAuthError
from svc_auth.passwords import (
    DEFAULT_PARAMS,
    TEST_PARAMS,
    Argon2Params,
    PasswordHasher,
    PasswordPolicy,
    normalize_password,
)
from svc_core.errors import UnprocessableError

PASSPHRASE = "violet lanterns drift over harbour"  # 34 chars, not listed


def _b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _phc_parts(stored: str) -> tuple[str, str, str, bytes, bytes]:
    _, alg, version, params, salt, digest = stored.split("$")
    return alg, version, params, _b64(salt), _b64(digest)


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(TEST_PARAMS)


# --- D3 / PW-07 ---


def test_production_defaults_are_exactly_d3() -> None:
    assert Argon2Params() == DEFAULT_PARAMS
    assert (DEFAULT_PARAMS.memory_kib, DEFAULT_PARAMS.time_cost, DEFAULT_PARAMS.parallelism) == (
        19456,
        2,
        1,
    )
    assert DEFAULT_PARAMS.salt_len >= 16
    assert DEFAULT_PARAMS.hash_len == 32
    assert PasswordHasher().params == DEFAULT_PARAMS


async def test_stored_credential_is_phc_argon2id_with_d3_parameters() -> None:
    stored = await PasswordHasher().hash(PASSPHRASE)
    alg, version, params, salt, digest = _phc_parts(stored)
    assert (alg, version, params) == ("argon2id", "v=19", "m=19456,t=2,p=1")
    assert len(salt) >= 16
    assert len(digest) == 32
    assert PASSPHRASE not in stored


async def test_same_password_twice_gets_different_salts_and_hashes(hasher: PasswordHasher) -> None:
    first, second = await asyncio.gather(hasher.hash(PASSPHRASE), hasher.hash(PASSPHRASE))
    assert first != second
    assert _phc_parts(first)[3] != _phc_parts(second)[3]
    assert len(_phc_parts(first)[3]) >= 16
    assert await hasher.verify(first, PASSPHRASE)
    assert await hasher.verify(second, PASSPHRASE)


async def test_weaker_stored_parameters_need_rehash_and_rehash_uses_current() -> None:
    old = PasswordHasher(Argon2Params(memory_kib=1024, time_cost=1, parallelism=1))
    current = PasswordHasher(Argon2Params(memory_kib=2048, time_cost=2, parallelism=1))
    stored = await old.hash(PASSPHRASE)
    assert "m=1024,t=1,p=1" in stored
    # the login path: verify with the current hasher, then re-hash when asked to
    assert await current.verify(stored, PASSPHRASE)
    assert current.needs_rehash(stored)
    rehashed = await current.hash(PASSPHRASE)
    assert "m=2048,t=2,p=1" in rehashed
    assert not current.needs_rehash(rehashed)
    assert await current.verify(rehashed, PASSPHRASE)


def test_needs_rehash_for_foreign_or_garbage_hashes(hasher: PasswordHasher) -> None:
    assert hasher.needs_rehash("$2b$12$abcdefghijklmnopqrstuu")  # bcrypt
    assert hasher.needs_rehash("$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g")
    assert hasher.needs_rehash("not a hash")


@pytest.mark.parametrize(
    "stored", ["", "garbage", "$argon2id$v=19$m=64,t=1,p=1$$", "$argon2id$broken", "\x00"]
)
async def test_verify_never_raises_on_garbage(hasher: PasswordHasher, stored: str) -> None:
    assert await hasher.verify(stored, PASSPHRASE) is False


async def test_wrong_password_is_false(hasher: PasswordHasher) -> None:
    stored = await hasher.hash(PASSPHRASE)
    assert await hasher.verify(stored, PASSPHRASE + " ") is False
    assert await hasher.verify(stored, PASSPHRASE.upper()) is False


async def test_overlong_attempt_is_refused_without_hashing_it(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("x" * 10)
    assert await hasher.verify(stored, "x" * 10_000) is False


def _dummy_of(hasher: PasswordHasher) -> str | None:
    return hasher._dummy


async def test_warm_up_prepares_the_dummy_hash_once(hasher: PasswordHasher) -> None:
    assert _dummy_of(hasher) is None
    await hasher.warm_up()
    dummy = _dummy_of(hasher)
    assert dummy is not None
    await hasher.dummy_verify("anything at all")
    assert _dummy_of(hasher) is dummy


async def test_dummy_verify_runs(hasher: PasswordHasher) -> None:
    await hasher.dummy_verify(PASSPHRASE)
    await hasher.dummy_verify("x" * 100_000)
    assert hasher._dummy is not None
    assert "m=64,t=1,p=1" in hasher._dummy  # same parameters as real hashes


# --- PW-06 normalisation ---


async def test_precomposed_password_verifies_when_typed_decomposed(hasher: PasswordHasher) -> None:
    precomposed = "caf\u00e9 \u00c5ngstr\u00f6m harbour lights"
    decomposed = unicodedata.normalize("NFD", precomposed)
    assert decomposed != precomposed
    assert "e\u0301" in decomposed
    assert "A\u030a" in decomposed
    stored = await hasher.hash(precomposed)
    assert await hasher.verify(stored, decomposed)
    stored_decomposed = await hasher.hash(decomposed)
    assert await hasher.verify(stored_decomposed, precomposed)


async def test_nul_is_hashed_in_full_never_truncated(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("abc\x00defghijklmnop")
    assert await hasher.verify(stored, "abc\x00defghijklmnop")
    assert not await hasher.verify(stored, "abc")
    assert not await hasher.verify(stored, "abc\x00")
    assert not await hasher.verify(stored, "abc\x00defghijklmnoX")


async def test_policy_refuses_nul_and_controls_at_set_time() -> None:
    policy = PasswordPolicy()
    for bad in ("violet lanterns\x00drift over", "violet lanterns\x07drift over"):
        codes = [v.code for v in await policy.violations(bad)]
        assert codes == ["invalid_character"]


async def test_lone_surrogate_never_raises(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("violet\ud800lanterns")
    assert await hasher.verify(stored, "violet\ud800lanterns")
    assert not await hasher.verify(stored, "violetlanterns")
    codes = [v.code for v in await PasswordPolicy().violations("violet\ud800lanterns drift")]
    assert "invalid_character" in codes


def test_normalize_password_is_nfkc_and_keeps_everything() -> None:
    assert normalize_password("\uff50\uff41\uff53\uff53") == "pass"  # fullwidth
    assert normalize_password("e\u0301") == "\u00e9"
    assert normalize_password("a\x00b") == "a\x00b"
    assert normalize_password("  spaced  ") == "  spaced  "


@settings(deadline=None)  # CI machines are shared: no per-example deadline
@given(st.text(max_size=40))
def test_normalize_password_is_idempotent(text: str) -> None:
    once = normalize_password(text)
    assert normalize_password(once) == once


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1, max_size=24))
async def test_any_equivalent_form_verifies(text: str) -> None:
    hasher = PasswordHasher(TEST_PARAMS)
    stored = await hasher.hash(text)
    for form in ("NFC", "NFD", "NFKC", "NFKD"):
        assert await hasher.verify(stored, unicodedata.normalize(form, text))


# --- off the event loop ---


async def test_hashing_runs_off_the_event_loop() -> None:
    hasher = PasswordHasher()  # production parameters: tens of ms per hash
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.002)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    stored = await asyncio.gather(*(hasher.hash(f"{PASSPHRASE} {i}") for i in range(5)))
    results = await asyncio.gather(
        *(hasher.verify(s, f"{PASSPHRASE} {i}") for i, s in enumerate(stored))
    )
    done.set()
    await task
    assert all(results)
    # If hashing blocked the loop the ticker could only run between hashes (<= 11 ticks).
    assert ticks >= 20


# --- policy (PW-01, PW-02, PW-04) ---


async def _codes(password: str, **kwargs: object) -> list[str]:
    policy = PasswordPolicy()
    return [v.code for v in await policy.violations(password, **kwargs)]  # type: ignore[arg-type]


async def test_pw01_length_rules() -> None:
    assert await _codes("violet7") == ["too_short"]
    assert await _codes("violet lantern") == ["too_short"]  # 14
    assert await _codes("violet lanterns") == []  # 15
    assert await _codes("vio lant", mfa=True) == []  # 8 with MFA
    assert await _codes("vio lan", mfa=True) == ["too_short"]  # 7 with MFA
    assert "too_long" in await _codes("violet lanterns " * 17)  # 272
    assert await _codes(("violet lanterns drifting " * 11)[:256]) == []


async def test_length_counts_code_points_after_nfkc() -> None:
    # 15 decomposed chars are 15 code points only after NFKC ("é" = e + U+0301 → 1)
    decomposed = unicodedata.normalize("NFD", "d\u00e9j\u00e0 vu r\u00e9sum\u00e9s")
    assert len(decomposed) == 19
    assert await _codes(decomposed) == []  # 15 after NFKC
    assert await _codes(decomposed[:-1]) == ["too_short"]  # 14 after NFKC
    # emoji and CJK count as one each
    assert await _codes("🌊🌊🌊 海の灯り 🏮 waves") == []


async def test_pw02_long_passphrase_without_digits_or_symbols() -> None:
    passphrase = "quiet rivers carry 🌸 lanterns 灯籠 past sleeping herons tonight"
    assert 40 <= len(passphrase) <= 64
    assert await _codes(passphrase) == []
    hasher = PasswordHasher(TEST_PARAMS)
    assert await hasher.verify(await hasher.hash(passphrase), passphrase)


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "qwertyuiopasdf",
        "123456789012345",
        "PASSWORD1234567",
        "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44\uff11\uff12\uff13\uff14",  # fullwidth
        "p@ssw0rd2024!!!",
        "iloveyou12345678",
        "abcabcabcabcabcabc",
        "zzzzzzzzzzzzzzzz",
        "1qaz2wsx3edc4rfv",
        "correct horse battery staple",
    ],
)
async def test_pw04_common_and_breached_values_are_refused(password: str) -> None:
    assert "compromised" in await _codes(password, mfa=True)


async def test_pw04_context_words() -> None:
    email = "Alice.Smith+news@example.com"
    assert await _codes("my alice.smith passphrase!", email=email) == ["contains_context_word"]
    assert await _codes("ALICESMITH rides the night bus", email=email) == ["contains_context_word"]
    assert await _codes("I really like svc-infra a lot", email=email) == ["contains_context_word"]
    assert await _codes("I really like SVC INFRA a lot", email=email) == ["contains_context_word"]
    assert await _codes("violet lanterns drift over harbour", email=email) == []
    # short local parts (< 3 chars) are not context words
    assert await _codes("bo and the violet lanterns", email="bo@example.com") == []
    policy = PasswordPolicy(context_words=("Acme Corp",), product_name="Widgets")
    assert [v.code for v in await policy.violations("acmecorp is where I work")] == [
        "contains_context_word"
    ]
    assert [v.code for v in await policy.violations("widgets everywhere tonight")] == [
        "contains_context_word"
    ]


async def test_pw04_non_listed_passphrase_is_accepted() -> None:
    assert await _codes("tangerine orbit whispers softly", email="alice@example.com") == []


async def test_check_raises_a_422_problem_listing_every_reason() -> None:
    policy = PasswordPolicy()
    with pytest.raises(PasswordPolicyError) as info:
        await policy.check("password1234", email="alice@example.com")
    err = info.value
    assert isinstance(err, UnprocessableError)
    assert isinstance(err, SvcAuthError)
    assert err.status_code == 422
    problem = err.to_problem()
    assert problem["status"] == 422
    types = [e["type"] for e in problem["errors"]]
    assert types == ["password.too_short", "password.compromised"]
    assert all(e["loc"] == ["body", "password"] for e in problem["errors"])
    assert "15" in problem["errors"][0]["msg"]
    assert "password1234" not in str(problem)


async def test_check_names_the_field_and_passes_good_passwords() -> None:
    policy = PasswordPolicy()
    with pytest.raises(PasswordPolicyError) as info:
        await policy.check("short", field="new_password")
    assert info.value.extensions["errors"][0]["loc"] == ["body", "new_password"]
    await policy.check("tangerine orbit whispers softly", email="alice@example.com")


async def test_policy_uses_the_given_checker() -> None:
    class Everything:
        async def is_compromised(self, password: str) -> bool:
            return True

    policy = PasswordPolicy(checker=Everything())
    assert [v.code for v in await policy.violations(PASSPHRASE)] == ["compromised"]
    assert isinstance(PasswordPolicy().checker, BundledListChecker)


def test_policy_rejects_inconsistent_lengths() -> None:
    with pytest.raises(ValueError, match="min_length"):
        PasswordPolicy(min_length=8, min_length_mfa=15)
