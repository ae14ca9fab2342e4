"""Reloading the configuration while vncd runs (`vncd reload`, SIGHUP).

The file vncd was started with is read and checked again (with the same command line
options); a file with any mistake changes nothing. Of what changed, the settings that no
running part holds on to apply at once, to the viewers that connect from then on (connected
viewers keep what they were admitted with): LIVE_KEYS. Every other change is named as needing
a restart, and vncd goes on as it runs: ports and sockets are bound, the source is open,
the TLS contexts and the clipboard's limit are shared by running sessions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs

from .config import Config, ConfigError, cross_checks
from .guard import GuardSettings
from .hub import Hub
from .policy import ViewerPolicy

log = logging.getLogger(__name__)

#: The passwords' keys: whichever is set, the passwords are read again (a file's too).
PASSWORD_KEYS = ("server.password", "server.view_only_password", "server.password_file")
#: What a reload applies. Not [limits] max_cut_text (the clipboard bus that every viewer
#: shares holds it), nor [viewers] input and takeover_idle_seconds (the input control does).
LIVE_KEYS = frozenset(
    {
        *PASSWORD_KEYS,
        "server.max_connections",
        "limits.max_encodings",
        "limits.handshake_seconds",
        "limits.max_unauthenticated",
        "limits.max_unauthenticated_per_address",
        "limits.auth_failures",
        "limits.auth_backoff_seconds",
        "limits.auth_backoff_max_seconds",
        "log.level",
        "viewers.sharing",
        "viewers.idle_timeout_seconds",
        "viewers.max_session_seconds",
        "viewers.view_only",
    }
)


@attrs.frozen
class Reloaded:
    """What a reload did: the keys applied, the changed keys that need a restart, or why
    nothing changed (``error``: one line per problem)."""

    applied: tuple[str, ...] = ()
    needs_restart: tuple[str, ...] = ()
    error: str = ""

    def reply(self) -> dict[str, Any]:
        """The control socket's answer."""
        if self.error:
            return {"ok": False, "error": self.error}
        return {
            "ok": True,
            "applied": list(self.applied),
            "needs_restart": list(self.needs_restart),
        }


@attrs.define
class Reloader:
    """Reads the configuration again and applies it to ``hub``. ``load``: the configuration
    as vncd was started with it (None: vncd was given a Config, not a file: embedded)."""

    hub: Hub
    load: Callable[[], Config] | None
    #: The configuration vncd started with: what a restart-only key is compared with.
    started: Config
    #: The configuration applied last (at start or by the latest reload).
    current: Config = attrs.field(default=attrs.Factory(lambda self: self.started, takes_self=True))
    passwords: tuple[str, str] = ("", "")

    def reload(self) -> Reloaded:
        """Read, check and apply the configuration; logs what happened."""
        if self.load is None:
            log.error("reload: this vncd was given its configuration, not a file to read")
            return Reloaded(error="this vncd was not started from a configuration file")
        try:
            new = self.load()
            passwords = new.resolved_passwords()
            running = live_part(self.started, new)
            if problems := cross_checks(running):
                # E.g. no password any more, fine for the new host but not the running one.
                raise ConfigError([f"with what runs until a restart: {p}" for p in problems])
        except ConfigError as error:
            for problem in error.problems:
                log.error("reload failed, nothing changed: %s", problem)
            return Reloaded(error="reload failed, nothing changed: " + "; ".join(error.problems))
        applied = [key for key in changed_keys(self.current, new) if key in LIVE_KEYS]
        if passwords != self.passwords and not set(applied) & set(PASSWORD_KEYS):
            applied.insert(0, "server.password_file")  # the same file, new passwords
        needs_restart = [key for key in changed_keys(self.started, new) if key not in LIVE_KEYS]
        apply(self.hub, running, passwords)
        self.current, self.passwords = running, passwords
        log.info("reloaded the configuration: %s", ", ".join(applied) or "nothing changed")
        if needs_restart:
            log.warning("changed, but only a restart applies: %s", ", ".join(needs_restart))
        return Reloaded(tuple(applied), tuple(needs_restart))


def changed_keys(old: Config, new: Config) -> list[str]:
    """The dotted keys whose values differ (a list of tables counts as one key)."""
    before, after = attrs.asdict(old), attrs.asdict(new)
    changed = []
    for section, values in after.items():
        if not isinstance(values, dict):
            if values != before[section]:
                changed.append(section)
            continue
        changed += [
            f"{section}.{key}" for key, value in values.items() if value != before[section][key]
        ]
    return changed


def live_part(started: Config, new: Config) -> Config:
    """The configuration vncd runs with after applying ``new``: its LIVE_KEYS, and
    ``started``'s values for every other key."""
    sections = {}
    for field in attrs.fields(Config):
        before, after = getattr(started, field.name), getattr(new, field.name)
        if attrs.has(type(after)):
            live = {
                key.name: getattr(after, key.name)
                for key in attrs.fields(type(after))
                if f"{field.name}.{key.name}" in LIVE_KEYS
            }
            sections[field.name] = attrs.evolve(before, **live)
    return attrs.evolve(started, **sections)


def apply(hub: Hub, config: Config, passwords: tuple[str, str]) -> None:
    """Give ``hub`` the LIVE_KEYS of ``config``. Access and the policies are frozen and read
    by each new session from the hub, so replacing them reaches every viewer to come."""
    limits = config.limits
    hub.access = attrs.evolve(
        hub.access,
        password=passwords[0],
        view_only_password=passwords[1],
        max_connections=config.server.max_connections,
        max_encodings=limits.max_encodings,
        handshake_seconds=limits.handshake_seconds,
    )
    hub.guard.settings = guard_settings(config)
    running = hub.viewers
    hub.viewers = attrs.evolve(
        viewer_policy(config), input=running.input, takeover_idle=running.takeover_idle
    )
    logging.getLogger().setLevel(config.log.level.upper())


def guard_settings(config: Config) -> GuardSettings:
    """[limits]' admission keys as vncd.guard uses them."""
    limits = config.limits
    return GuardSettings(
        failures_before_backoff=limits.auth_failures,
        backoff=limits.auth_backoff_seconds,
        max_backoff=limits.auth_backoff_max_seconds,
        max_pending=limits.max_unauthenticated,
        max_pending_per_address=limits.max_unauthenticated_per_address,
    )


def viewer_policy(config: Config) -> ViewerPolicy:
    """[viewers] as the sessions use it: seconds, None for "never"."""
    viewers = config.viewers
    return ViewerPolicy(
        input=viewers.input,
        takeover_idle=viewers.takeover_idle_seconds or None,
        sharing=viewers.sharing,
        idle_timeout=viewers.idle_timeout_seconds or None,
        max_session=viewers.max_session_seconds or None,
        view_only=viewers.view_only,
    )
