"""Users files for tests: real scrypt hashes at a low cost, so that each check is quick."""

from __future__ import annotations

from pathlib import Path

from vncd.users import User, hash_password, write_users

#: scrypt N, r, p: a thousandth of vncd's cost, the same code path.
CHEAP = (1 << 5, 8, 1)


def users_file(path: Path, users: dict[str, str], view_only: frozenset[str] = frozenset()) -> Path:
    """Write ``users`` (name → password) to ``path``; names in ``view_only`` are view-only."""
    write_users(
        path,
        {
            name: User(name, hash_password(password, cost=CHEAP), view_only=name in view_only)
            for name, password in users.items()
        },
    )
    return path
