"""Dashboard access primitives: password hashes, users, sessions, the login limiter."""

from __future__ import annotations

import pytest

from stripe2sf.web.dashboard.auth import (
    LoginLimiter,
    Sessions,
    authenticate,
    csrf_ok,
    hash_password,
    main,
    parse_users,
    verify_password,
)


def test_hash_and_verify() -> None:
    encoded = hash_password("s3cret", n=2**10)
    assert encoded.startswith("scrypt$1024$")
    assert ":" not in encoded and "," not in encoded
    assert verify_password("s3cret", encoded)
    assert not verify_password("S3cret", encoded)
    assert not verify_password("s3cret", "garbage")
    assert hash_password("s3cret", n=2**10) != encoded  # salted


def test_users_and_authenticate() -> None:
    users = parse_users(
        [f"ann:operator:{hash_password('a', n=2**10)}", f"vic:viewer:{hash_password('v', n=2**10)}"]
    )
    assert users["ann"].is_operator and not users["vic"].is_operator
    assert authenticate(users, "ann", "a") == users["ann"]
    assert authenticate(users, "ann", "v") is None
    assert authenticate(users, "nobody", "a") is None
    with pytest.raises(ValueError):
        parse_users(["eve:admin:x"])


def test_sessions_and_csrf() -> None:
    users = parse_users([f"ann:operator:{hash_password('a', n=2**10)}"])
    sessions = Sessions(3600)
    session = sessions.create(users["ann"])
    assert sessions.get(session.token) is session
    assert csrf_ok(session.csrf, session.csrf)
    assert not csrf_ok(session.csrf, "") and not csrf_ok(session.csrf, None)
    sessions.drop(session.token)
    assert sessions.get(session.token) is None
    expired = Sessions(-1)
    assert expired.get(expired.create(users["ann"]).token) is None


def test_login_limiter() -> None:
    limiter = LoginLimiter(attempts=3)
    for _ in range(3):
        assert not limiter.blocked("ann", "1.2.3.4")
        limiter.failed("ann", "1.2.3.4")
    assert limiter.blocked("ann", "1.2.3.4")
    assert limiter.blocked("ANN", "1.2.3.4")
    assert not limiter.blocked("ann", "5.6.7.8")


def test_hash_command_refuses_bad_roles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["ann", "admin"]) == 2
