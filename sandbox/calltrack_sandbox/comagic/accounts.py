"""The emulated accounts (roles in the package's docstring) and whose data a call reads."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

#: The one day of the ``big`` account's get.calls_report.
BIG_DAY = dt.date(2024, 1, 2)


@dataclass(frozen=True)
class Client:
    user_id: int
    customer_id: int
    login: str
    name: str
    timezone: str  # the client's own account zone (get.account with its user_id)


@dataclass(frozen=True)
class Account:
    role: str
    app_id: int
    name: str
    timezone: str
    token: str | None = None
    login: str | None = None
    password: str | None = None
    clients: tuple[Client, ...] = ()
    disabled: frozenset[str] = frozenset()

    def config(self, with_name: bool = True) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name} if with_name else {}
        if self.token:
            entry["access_token"] = self.token
        else:
            entry.update(login=self.login, password=self.password)
        return entry


def _secret(seed: int, what: str) -> str:
    return hashlib.sha256(f"comagic:{seed}:{what}".encode()).hexdigest()[:40]


def make_accounts(seed: int) -> dict[str, Account]:
    agency_clients = (Client(7001, 20701, "okna_client_one", "Окна Плюс", "Asia/Yekaterinburg"),
                      Client(7002, 20702, "okna_client_two", "Двери и Окна", "Europe/Samara"))
    zone_clients = (Client(7101, 20711, "west_client", "Окна Запад", "Europe/Kaliningrad"),
                    Client(7102, 20712, "ural_client", "Окна Урал", "Asia/Yekaterinburg"),
                    Client(7103, 20713, "siberia_client", "Окна Сибирь", "Asia/Novosibirsk"))
    accounts = [
        Account("direct", 10501, "okna-direct", "Europe/Moscow", token=_secret(seed, "direct")),
        Account("login", 10502, "okna-login", "Asia/Yekaterinburg", login="okna_api",
                password=_secret(seed, "password")[:16],
                disabled=frozenset({"get.chats_report"})),
        Account("agency", 10503, "okna-agency", "Europe/Samara", token=_secret(seed, "agency"),
                clients=agency_clients),
        Account("blocked", 10504, "okna-blocked", "Europe/Moscow", token=_secret(seed, "blocked")),
        Account("ip_denied", 10505, "okna-ip-denied", "Europe/Moscow",
                token=_secret(seed, "ip_denied")),
        Account("big", 10506, "okna-big", "Europe/Moscow", token=_secret(seed, "big")),
        Account("zones", 10507, "okna-zones", "Europe/Moscow", token=_secret(seed, "zones"),
                clients=zone_clients),
    ]
    return {account.role: account for account in accounts}


@dataclass(frozen=True)
class Scope:
    """Whose data a call reads: an account, or an agency's client."""

    account: Account
    client: Client | None = None

    @property
    def key(self) -> str:
        return str(self.account.app_id) + (f":{self.client.user_id}" if self.client else "")

    @property
    def is_agency_itself(self) -> bool:
        return bool(self.account.clients) and self.client is None
