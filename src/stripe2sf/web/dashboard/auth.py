"""Dashboard access: users and roles from configuration, scrypt password hashes, in-memory
sessions with a CSRF token each, and a login rate limit.

`python -m stripe2sf.web.dashboard.auth NAME [ROLE]` prints a `name:role:hash` entry for
STRIPE2SF_DASHBOARD_USERS (the password is read without echo).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import secrets
import sys
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Literal

Role = Literal["viewer", "operator"]
ROLES: tuple[Role, ...] = ("viewer", "operator")

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    """`scrypt$N$r$p$salt$hash` (no `:` or `,`, so it fits a users entry)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=2**26, dklen=32
    )
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=2**26,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    password_hash: str

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


def parse_users(entries: list[str]) -> dict[str, User]:
    users: dict[str, User] = {}
    for entry in entries:
        name, role, encoded = entry.split(":", 2)
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} for {name!r}")
        users[name] = User(name, "operator" if role == "operator" else "viewer", encoded)
    return users


_DUMMY_HASH = hash_password(secrets.token_hex(8))


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    user = users.get(name)
    # Hash even for unknown names, so timing does not tell which names exist.
    ok = verify_password(password, user.password_hash if user else _DUMMY_HASH)
    return user if ok and user is not None else None


@dataclass
class Session:
    token: str
    user: User
    csrf: str
    expires: float


class Sessions:
    """Server-side sessions (one `serve` process); the cookie holds only a random token."""

    def __init__(self, lifetime_seconds: float) -> None:
        self.lifetime = lifetime_seconds
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def create(self, user: User) -> Session:
        session = Session(
            secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), time.time() + self.lifetime
        )
        with self._lock:
            now = time.time()
            self._sessions = {k: v for k, v in self._sessions.items() if v.expires > now}
            self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is None or session.expires <= time.time():
                self._sessions.pop(token, None)
                return None
            return session

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)


class LoginLimiter:
    """At most `attempts` failed logins per (name, address) and 4x that per address, in
    `window` seconds; a refused login is not even checked."""

    def __init__(self, attempts: int, window: float = 300.0) -> None:
        self.attempts = attempts
        self.window = window
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> int:
        times = self._failures[key]
        while times and times[0] < now - self.window:
            times.popleft()
        return len(times)

    def blocked(self, name: str, address: str) -> bool:
        now = time.time()
        with self._lock:
            return (
                self._recent(f"u:{name.lower()}|{address}", now) >= self.attempts
                or self._recent(f"a:{address}", now) >= 4 * self.attempts
            )

    def failed(self, name: str, address: str) -> None:
        now = time.time()
        with self._lock:
            self._failures[f"u:{name.lower()}|{address}"].append(now)
            self._failures[f"a:{address}"].append(now)

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop(f"u:{name.lower()}|{address}", None)


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0].startswith("-"):
        print("usage: python -m stripe2sf.web.dashboard.auth NAME [viewer|operator]")
        return 2
    name = args[0]
    role = args[1] if len(args) > 1 else "viewer"
    if role not in ROLES or ":" in name or "," in name:
        print("the role must be viewer or operator; the name may not hold ':' or ','")
        return 2
    password = getpass.getpass(f"password for {name}: ")
    print(f"{name}:{role}:{hash_password(password)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
