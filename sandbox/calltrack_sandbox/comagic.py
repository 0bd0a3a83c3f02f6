"""Emulated Comagic / UIS Data API v2.0: ``POST /comagic/v2.0`` (JSON-RPC 2.0) and the
record links ``GET /comagic/media/system/media/talk/{communication_id}/{record_id}/``.

Behaviour follows ../shared/vendor-docs (NOTES.md section 2): ``id`` is required (-32099
notifications_not_supported), batches are refused, errors carry ``data.mnemonic``; only
the default fields come back without ``fields`` and an unknown field is
``unexpected_parameters``; ``limit`` <= 10000, ``offset`` <= 100000; report windows at most
3 months (campaign_daily_stat 90 days), dates ``YYYY-MM-DD hh:mm:ss`` in the account's zone,
``date_till`` inclusive; ``metadata.total_items`` and ``metadata.limits`` (minute and day
budgets per account, points charged for successful ``get.*`` calls only); login.user
sessions that expire; Russian enums, tags and employees as arrays of objects, nulls for
empty fields; campaign_daily_stat answers a bare ``result`` list and spells ``campain_id``,
get.account and get.sites name their metadata ``meta_data``, as the doc's examples do.

Where the docs are silent (see docs/comagic.md): JSON-RPC errors come with HTTP 200;
get.customer_users answers an empty list to a direct account; an agency's own reports are
empty (its data is its clients'); a ``user_id`` that is not the agency's client is
``forbidden``; system tags have the same ids in every account.

Accounts (``GET /comagic/_sandbox/accounts`` lists all with their credentials; the tap
config holds the first three):

==========  ===============================================================
role        behaviour
==========  ===============================================================
direct      permanent token, Europe/Moscow
login       login/password sessions (1 hour, configurable), Asia/Yekaterinburg,
            no chats component (get.chats_report: method_component_disabled)
agency      permanent token, Europe/Samara, two clients with their own data and zones
            (7001 Asia/Yekaterinburg, 7002 Europe/Samara)
blocked     its token is blocked (access_token_blocked)
ip_denied   every call answers ip_not_whitelisted
big         get.calls_report holds ``big_rows`` (120000) calls on BIG_DAY, cheaply
zones       permanent token, an agency in Europe/Moscow with three clients in
            Europe/Kaliningrad, Asia/Yekaterinburg and Asia/Novosibirsk
==========  ===============================================================

get.account with a client's ``user_id`` answers the client's own account (app_id =
its customer_id, its zone); ``account_user_id`` in the options makes it refuse
``user_id`` (unexpected_parameters) or ignore it (the agency's own account).

Test controls: ``GET /comagic/_sandbox/state`` (calls per method, errors per mnemonic,
the last params of each method without secrets), ``POST /comagic/_sandbox/options``
(quota budgets, the "minute" length, session lifetime, a delay, injected errors, fields
the API "does not know"), ``POST /comagic/_sandbox/reset``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import math
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from calltrack_sandbox.protocol import SandboxOptions, SandboxRequest, SandboxResponse
from calltrack_sandbox.world import (
    CITIES,
    MANAGERS,
    TAGS,
    CallFacts,
    World,
    record_bytes,
    stable_int,
)

PREFIX = "/comagic"
API_PATH = "/v2.0"
MEDIA_PATH = re.compile(r"^/media/system/media/talk/(\d+)/(\d+)/?$")
DATETIME = "%Y-%m-%d %H:%M:%S"
MAX_LIMIT, MAX_OFFSET, DEFAULT_LIMIT = 10_000, 100_000, 1000
BIG_DAY = dt.date(2024, 1, 2)
HELP = "https://comagic.github.io/data_api/"

ERRORS: dict[str, tuple[int, str]] = {
    "parse_error": (-32700, "Parse error"),
    "invalid_request": (-32600, "Invalid Request"),
    "method_not_found": (-32601, "Method not found"),
    "unexpected_parameters": (-32602, "Unexpected parameters"),
    "required_parameter_missing": (-32602, "Required parameter is missing"),
    "invalid_parameter_value": (-32602, "Invalid parameter value"),
    "date_interval_limit_reached": (-32602, "Max value of requested date interval is 3 months"),
    "sort_prohibited": (-32602, "Sorting by this field is prohibited"),
    "internal_error": (-32603, "Internal error"),
    "access_token_invalid": (-32001, "Access token is invalid"),
    "access_token_expired": (-32001, "Access token has been expired"),
    "access_token_blocked": (-32001, "Access token has been blocked"),
    "auth_error": (-32001, "Wrong login or password"),
    "ip_not_whitelisted": (-32003, "Access from IP {ip} is denied: it is not whitelisted"),
    "forbidden": (-32003, "Access is forbidden"),
    "method_component_disabled": (-32008, "The component of the method is disabled"),
    "account_inactive": (-32009, "The account is inactive"),
    "limit_exceeded": (-32029, "Limit per {limit} has been exceeded. Try again later"),
    "notifications_not_supported": (-32099, "Notifications are not supported"),
    "batch_opreations_not_supported": (-32099, "Batch operations are not supported"),  # sic
}


# --- the methods: fields (the default set first), parameters ---------------------------

def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


@dataclass(frozen=True)
class Method:
    defaults: tuple[str, ...]
    others: tuple[str, ...] = ()
    dated: bool = False
    max_days: int | None = None  # None: 3 calendar months
    params: frozenset[str] = frozenset()
    sortable: frozenset[str] = frozenset({"id"})
    bare: bool = False  # ``result`` is the list itself
    #: Fields the docs do not list but public clients request (docs/fidelity.md): accepted
    #: unless the quirk ``comagic-documented-fields`` is on.
    extras: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return self.defaults + self.others


LIST_PARAMS = frozenset({"access_token", "user_id", "limit", "offset", "filter", "fields",
                         "sort"})
REPORT_PARAMS = LIST_PARAMS | {"date_from", "date_till"}

METHODS: dict[str, Method] = {
    # user_id: as the public comagic-data-api-sdk sends it (docs/comagic.md, Agencies);
    # Controls.account_user_id plays the other readings.
    "get.account": Method(_words("app_id name timezone"),
                          params=frozenset({"access_token", "user_id"})),
    "get.customer_users": Method(_words("id login name customer_id"), ("description",),
                                 params=LIST_PARAMS),
    "get.sites": Method(_words("id name domain_name default_phone_number state"), _words(
        """default_scenario app_key site_key is_editable creation_date industry_id
        industry_name target_call_min_duration track_subdomains cookie_lifetime
        campaign_lifetime sales_enabled second_communication_period services_enabled
        replacement_dynamical_block_enabled is_support_web_directory widget_link
        child_customer_id show_visitor_id site_blocks connected_integrations"""),
        params=LIST_PARAMS),
    "get.tags": Method(_words("id name is_system"), params=LIST_PARAMS),
    "get.campaigns": Method(_words("id name status site_id"), _words(
        """description creation_time engine type costs cost_ratio cost_ratio_operator
        site_domain_name site_blocks static_utm_source static_utm_medium static_utm_campaign
        static_utm_term static_utm_content dynamic_call_tracking campaign_conditions"""),
        params=LIST_PARAMS),
    "get.calls_report": Method(_words("""
        id start_time finish_time finish_reason direction cpn_region_id
        cpn_region_name cpn_country_name cpn_country_id source is_lost
        contact_phone_number communication_id communication_type wait_duration
        total_wait_duration talk_duration clean_talk_duration total_duration
        call_records wav_call_records full_record_file_link virtual_phone_number"""), _words("""
        properties scenario_operations communication_number communication_page_url
        lost_call_processing_duration postprocess_duration voice_mail_records
        ua_client_id ym_client_id sale_date sale_cost is_transfer search_query
        search_engine referrer_domain referrer entrance_page gclid yclid ymclid ef_id
        channel tags employees last_answered_employee_id
        last_answered_employee_full_name last_answered_employee_rating
        first_answered_employee_id first_answered_employee_full_name
        last_talked_employee_id last_talked_employee_full_name
        first_talked_employee_id first_talked_employee_full_name operator_phone_number
        scenario_name scenario_id site_domain_name site_id campaign_name campaign_id
        visit_other_campaign auto_call_campaign_name visitor_id person_id visitor_type
        visitor_session_id visits_count visitor_first_campaign_id
        visitor_first_campaign_name visitor_city visitor_region visitor_country
        visitor_device visitor_custom_properties segments call_api_request_id
        call_api_external_id contact_id contact_full_name utm_source utm_medium
        utm_term utm_content utm_campaign openstat_ad openstat_campaign
        openstat_service openstat_source attributes eq_utm_source eq_utm_medium
        eq_utm_term eq_utm_content eq_utm_campaign eq_utm_referrer eq_utm_expid
        source_id source_name source_new channel_new channel_code ext_id"""),
        extras=_words("utm_referrer"),
        dated=True, params=REPORT_PARAMS | {"include_ongoing_calls"},
        sortable=frozenset({"id", "start_time"})),
    "get.call_legs_report": Method(_words("""
        id call_session_id call_records wav_call_records start_time connect_time
        duration total_duration finish_reason virtual_phone_number
        calling_phone_number called_phone_number direction is_transfered is_operator
        employee_id employee_rating scenario_id is_coach release_cause_code
        release_cause_description is_failed action_id action_name group_id
        group_name"""), _words("""
        finish_reason_description employee_full_name employee_phone_number
        scenario_name is_talked contact_id contact_full_name contact_phone_number"""),
        dated=True, params=REPORT_PARAMS, sortable=frozenset({"id", "start_time"})),
    "get.communications_report": Method(_words("""
        id communication_type date_time visitor_id person_id visitor_session_id
        site_id campaign_id"""), _words("""
        communication_number communication_page_url ua_client_id ym_client_id
        sale_date sale_cost search_query search_engine referrer_domain referrer
        entrance_page gclid yclid ymclid ef_id channel tags visitor_type visits_count
        visitor_first_campaign_id visitor_first_campaign_name visitor_city
        visitor_region visitor_country visitor_device visitor_custom_properties
        site_domain_name campaign_name visit_other_campaign segments utm_source
        utm_medium utm_term utm_content utm_campaign utm_referrer utm_expid
        openstat_ad openstat_campaign openstat_service openstat_source attributes
        eq_utm_source eq_utm_medium eq_utm_term eq_utm_content eq_utm_campaign
        eq_utm_referrer eq_utm_expid source_id source_name source_new channel_new
        channel_code"""),
        dated=True, params=REPORT_PARAMS, sortable=frozenset({"id", "date_time"})),
    "get.goals_report": Method(_words("""
        type ext_id source communication_id communication_type site_id campaign_id"""), _words("""
        id date_time name communication_number communication_page_url ua_client_id
        ym_client_id sale_date sale_cost search_query search_engine referrer_domain
        referrer entrance_page gclid yclid ymclid ef_id channel tags site_domain_name
        campaign_name visit_other_campaign visitor_id person_id visitor_type
        visitor_session_id visits_count visitor_first_campaign_id
        visitor_first_campaign_name visitor_city visitor_region visitor_country
        visitor_device visitor_custom_properties segments utm_source utm_medium
        utm_term utm_content utm_campaign openstat_ad openstat_campaign
        openstat_service openstat_source attributes eq_utm_source eq_utm_medium
        eq_utm_term eq_utm_content eq_utm_campaign eq_utm_referrer eq_utm_expid"""),
        extras=_words("utm_referrer"),
        dated=True, params=REPORT_PARAMS, sortable=frozenset({"id", "date_time"})),
    "get.offline_messages_report": Method(_words("""
        id text communication_id is_agree_to_process_personal_data is_agree_to_mailing
        status form_type properties employee_id site_id campaign_id
        visitor_phone_number visitor_email visitor_name visitor_id visitor_session_id"""),
        _words("""
        date_time communication_number communication_page_url communication_type
        ua_client_id ym_client_id sale_date sale_cost process_time form_name
        search_query search_engine referrer_domain referrer entrance_page gclid yclid
        ymclid ef_id channel group_id group_name employee_full_name
        employee_answer_message employee_comment tags site_domain_name campaign_name
        visit_other_campaign person_id visitor_type visits_count
        visitor_first_campaign_id visitor_first_campaign_name visitor_city
        visitor_country visitor_region visitor_device visitor_custom_properties
        segments utm_source utm_medium utm_term utm_content utm_campaign openstat_ad
        openstat_campaign openstat_service openstat_source attributes eq_utm_source
        eq_utm_medium eq_utm_term eq_utm_content eq_utm_campaign eq_utm_referrer
        eq_utm_expid source_id source_name source_new channel_new channel_code ext_id"""),
        extras=_words("utm_referrer source"),
        dated=True, params=REPORT_PARAMS | {"include_tech_offline_messages"},
        sortable=frozenset({"id", "date_time"})),
    "get.chats_report": Method(_words("""
        id status initiator date_time duration answer_time communication_id
        chat_ad_url is_group_chat is_transfer release_cause employee_id
        employee_raiting site_id campaign_id visitor_phone_number visitor_id
        visitor_ids"""), _words("""
        communication_number communication_page_url communication_type chat_channel_id
        chat_channel_type chat_channel_name chat_user_id chat_username messages_count
        ua_client_id ym_client_id sale_date sale_cost search_query search_engine
        referrer_domain referrer entrance_page gclid yclid ymclid ef_id channel
        employee_full_name employee_messages_count tags site_domain_name campaign_name
        visit_other_campaign person_id visitor_type visitor_session_id visits_count
        visitor_first_campaign_id visitor_first_campaign_name visitor_city
        visitor_region visitor_country visitor_device visitor_custom_properties
        segments utm_source utm_medium utm_term utm_content utm_campaign openstat_ad
        openstat_campaign openstat_service openstat_source attributes eq_utm_source
        eq_utm_medium eq_utm_term eq_utm_content eq_utm_campaign eq_utm_referrer
        eq_utm_expid source_id source_name source_new channel_new channel_code ext_id"""),
        extras=_words("utm_referrer source"),
        dated=True, params=REPORT_PARAMS, sortable=frozenset({"id", "date_time"})),
    "get.campaign_daily_stat": Method(_words("""
        date site_id site_domain_name campaign_id campaign_name campaign_ext_id
        campaign_ext_name engine banner_group_id banner_group_name keyword_id keyword
        cost_sum shows_count clicks_count current_banner_id current_banner_name
        daily_budget weekly_budget currency"""), _words("""
        chats_count calls_count goals_count offline_messages_count old_banner_ids
        visits_count session_ids source_id source_name communications attributes tags"""),
        extras=_words("campain_id banner_id banner_name"),
        dated=True, max_days=90, params=REPORT_PARAMS | {"site_id"},
        sortable=frozenset({"date"}), bare=True),
}
DATE_FIELD = {"get.calls_report": "start_time", "get.call_legs_report": "start_time",
              "get.campaign_daily_stat": "date"}
ACCOUNT_METHODS = frozenset({"get.account", "get.customer_users"})


class RpcError(Exception):
    """An error answer: mnemonic, and optionally the parameter it is about."""

    def __init__(self, mnemonic: str, field_name: str | None = None, value: Any = None,
                 **fmt: Any) -> None:
        code, message = ERRORS[mnemonic]
        super().__init__(message.format(**fmt))
        self.mnemonic, self.code = mnemonic, code
        self.field_name, self.value = field_name, value
        self.limits: dict[str, Any] | None = None


# --- accounts --------------------------------------------------------------------------

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


# --- options and quota ---------------------------------------------------------------------

@dataclass
class Controls:
    """What tests may change at run time (``POST /comagic/_sandbox/options``)."""

    minute_limit: int = 100_000
    minute_seconds: float = 60.0  # how long the sandbox's "minute" lasts
    day_limit: int = 1_000_000
    token_lifetime_s: float = 3600.0  # real lifetime of login.user sessions
    reported_lifetime_s: float | None = None  # what expire_at says (default: the real one)
    delay_ms: float = 0.0
    big_rows: int = 120_000
    #: errors to answer next: [{"mnemonic": ..., "count": n, "method": optional, "limit": "day"}]
    inject: list[dict[str, Any]] = field(default_factory=list)
    #: fields the API "does not know", per method
    unknown_fields: dict[str, list[str]] = field(default_factory=dict)
    #: get.account with user_id: "accept" (the client's own account, as the public SDK
    #: expects), "refuse" (unexpected_parameters, as NOTES' parameter list implies) or
    #: "ignore" (the agency's own account, user_id silently dropped)
    account_user_id: str = "accept"


@dataclass
class Budget:
    day_used: int = 0
    minute_started: float = 0.0
    minute_used: int = 0


class Quota:
    """Per-account minute and day budgets, one point per successful get.* call."""

    def __init__(self) -> None:
        self.budgets: dict[int, Budget] = {}
        self.started = time.monotonic()

    def limits(self, app_id: int, controls: Controls) -> dict[str, Any]:
        budget = self._roll(app_id, controls)
        now = time.monotonic()
        minute_left = budget.minute_started + controls.minute_seconds - now
        day_left = 86_400 - (now - self.started) % 86_400
        return {"day_limit": controls.day_limit,
                "day_remaining": max(0, controls.day_limit - budget.day_used),
                "day_reset": math.ceil(day_left),
                "minute_limit": controls.minute_limit,
                "minute_remaining": max(0, controls.minute_limit - budget.minute_used),
                "minute_reset": max(1, math.ceil(minute_left))}

    def _roll(self, app_id: int, controls: Controls) -> Budget:
        budget = self.budgets.setdefault(app_id, Budget(minute_started=time.monotonic()))
        if time.monotonic() - budget.minute_started >= controls.minute_seconds:
            budget.minute_started, budget.minute_used = time.monotonic(), 0
        return budget

    def check(self, app_id: int, controls: Controls) -> None:
        budget = self._roll(app_id, controls)
        spent = ("day" if budget.day_used >= controls.day_limit else
                 "minute" if budget.minute_used >= controls.minute_limit else None)
        if spent:
            error = RpcError("limit_exceeded", limit=spent)
            error.limits = self.limits(app_id, controls)
            raise error

    def charge(self, app_id: int, controls: Controls) -> None:
        budget = self._roll(app_id, controls)
        budget.day_used += 1
        budget.minute_used += 1


# --- data ------------------------------------------------------------------------------------

def fmt(moment: dt.datetime) -> str:
    return moment.strftime(DATETIME)


def empty(value: str) -> str | None:
    """The vendor sends null for empty fields (NOTES 2.0), never placeholders."""
    return None if not value or value.startswith("<") or value.startswith("(") else value


CHANNELS = {"cpc": "paid", "organic": "organic", "social": "social", "referral": "referral",
            "(none)": "direct"}
VISITOR_TYPES = ("Новый", "Вернувшийся", "Не заполнен")
SYSTEM_TAGS = {"Спам": 1}  # system tags share their ids across accounts
CITY_NAMES = [city for city, _ in CITIES]
CAMPAIGNS = (("Яндекс.Директ — бренд", "yandex.direct"), ("Google Ads — поиск", "google.adwords"),
             ("Органический трафик", None))


class Data:
    """Deterministic rows of every method for a scope, rendered from World facts."""

    def __init__(self, options: SandboxOptions) -> None:
        self.world = options.world
        smaller = max(1, options.records // 3)
        self.others = World(options.seed, smaller, options.first_day, options.days)
        self.first_day = options.first_day
        self.quirks = options.quirks

    # --- ids -----------------------------------------------------------------------------

    @staticmethod
    def number(scope: Scope) -> int:
        client = scope.client
        position = scope.account.clients.index(client) + 1 if client else 0
        return (scope.account.app_id - 10_500) * 10 + position

    def comm_id(self, scope: Scope, facts: CallFacts) -> int:
        """Communication ids: every kind uses the same formula, so a call and a chat can
        share an id (``id`` is unique only with ``communication_type``)."""
        return 10**9 + self.number(scope) * 10**7 + (facts.day - self.first_day).days * 1000 \
            + facts.index

    def record_texts(self, ids: list[int]) -> list[Any]:
        """Record ids as answered: strings (zfullio/comagic-service types them ``[]string``),
        numbers with the quirk ``comagic-numeric-record-ids`` (docs/fidelity.md)."""
        return list(ids) if "comagic-numeric-record-ids" in self.quirks else \
            [str(value) for value in ids]

    @staticmethod
    def record_ids(facts: CallFacts) -> list[int]:
        if not facts.has_record:
            return []
        return [facts.call_id * 10 + 1] + ([facts.call_id * 10 + 2] if facts.index % 7 == 0
                                           else [])

    # --- dimensions ------------------------------------------------------------------------

    def sites(self, scope: Scope) -> list[dict[str, Any]]:
        n = self.number(scope)
        return [self.site(n, i) for i in range(2)]

    @staticmethod
    def site(n: int, i: int) -> dict[str, Any]:
        site_id = 50_000 + n * 10 + i
        return {
            "id": site_id, "name": f"Окна {n}-{i + 1}", "domain_name": f"okna-{n}-{i + 1}.ru",
            "default_phone_number": f"7495{site_id:07d}", "state": "work",
            "default_scenario": {"scenario_id": 300 + n, "scenario_name": "Основной сценарий"},
            "app_key": f"app-{site_id}", "site_key": f"site-{site_id}", "is_editable": True,
            "creation_date": "2023-05-04 10:00:00", "industry_id": 12,
            "industry_name": "Строительство и ремонт", "target_call_min_duration": 30,
            "track_subdomains": False, "cookie_lifetime": 30, "campaign_lifetime": 30,
            "sales_enabled": True, "second_communication_period": 7, "services_enabled": True,
            "replacement_dynamical_block_enabled": False, "is_support_web_directory": False,
            "widget_link": {"enabled": False, "text": None, "url": None},
            "child_customer_id": None,
            "show_visitor_id": {"enabled": False, "element_id_value": None, "message": None,
                                "length_visitor_id": None},
            "site_blocks": [{"site_block_id": site_id * 10, "site_block_name": "Шапка"}],
            "connected_integrations": [],
        }

    def campaigns(self, scope: Scope) -> list[dict[str, Any]]:
        rows = []
        for site in self.sites(scope):
            for j, (name, engine) in enumerate(CAMPAIGNS):
                rows.append({
                    "id": 80_000 + (site["id"] - 50_000) * 10 + j, "name": name,
                    "status": "active", "site_id": site["id"], "description": None,
                    "creation_time": "2023-05-04 10:00:00", "engine": engine,
                    "type": "dynamic" if engine else "static", "costs": 0.0 if engine else None,
                    "cost_ratio": 1.0, "cost_ratio_operator": "*",
                    "site_domain_name": site["domain_name"], "site_blocks": [],
                    "static_utm_source": None, "static_utm_medium": None,
                    "static_utm_campaign": None, "static_utm_term": None,
                    "static_utm_content": None,
                    "dynamic_call_tracking": {  # reservation_time: an enum (string) in the docs
                        "dynamic_call_tracking_enabled": True, "reservation_time": "15m",
                        "count_virtual_numbers": 10, "count_visits": 120,
                        "coverage_visitors": 0.95} if engine else None,
                    "campaign_conditions": {"group_conditions": [[{
                        "type": "utm_source", "operator": "=",
                        "value": engine.split(".")[0] if engine else "organic"}]]},
                })
        return rows

    def tags(self, scope: Scope) -> list[dict[str, Any]]:
        n = self.number(scope)
        return [{"id": self.tag_id(n, k, name), "name": name, "is_system": name in SYSTEM_TAGS}
                for k, name in enumerate(TAGS)]

    @staticmethod
    def tag_id(n: int, k: int, name: str) -> int:
        return SYSTEM_TAGS.get(name) or 900 + n * 10 + k

    # --- communications ------------------------------------------------------------------

    def placement(self, scope: Scope, f: CallFacts) -> tuple[dict[str, Any], dict[str, Any]]:
        """The site and campaign a communication came through."""
        campaigns = self.campaigns(scope)
        site = self.sites(scope)[f.index % 2]
        j = 0 if f.source == "yandex" and f.medium == "cpc" else 1 if f.source == "google" else 2
        campaign = next(c for c in campaigns if c["site_id"] == site["id"] and
                        c["id"] % 10 == j)
        return site, campaign

    def attribution(self, scope: Scope, f: CallFacts) -> dict[str, Any]:
        site, campaign = self.placement(scope, f)
        utm = {name: empty(getattr(f, name)) for name in
               ("utm_source", "utm_medium", "utm_term", "utm_content", "utm_campaign")}
        organic = f.medium == "organic"
        visitor = stable_int("visitor", scope.key, f.caller_number) % 10**8
        return {
            "communication_number": 1 + f.index % 3, "communication_page_url": f.landing_url,
            "ua_client_id": f.ga_client_id, "ym_client_id": f.ya_client_id,
            "sale_date": fmt(f.started_local) if f.index % 9 == 0 else None,
            "sale_cost": 15000.0 if f.index % 9 == 0 else None,
            "search_query": f.keyword if organic else None,
            "search_engine": f.source if organic else None,
            "referrer_domain": f.referrer.split("/")[2] if f.referrer else None,
            "referrer": f.referrer or None, "entrance_page": f.landing_url,
            "gclid": f"gclid-{f.session_id}" if f.source == "google" else None,
            "yclid": str(f.direct_ids[2]) if f.source == "yandex" and f.medium == "cpc"
            else None,
            "ymclid": None, "ef_id": None, "channel": CHANNELS.get(f.medium, "referral"),
            "tags": self.call_tags(scope, f), "visitor_id": visitor, "person_id": visitor + 7,
            "visitor_type": VISITOR_TYPES[2 if f.index % 11 == 10 else 0 if f.is_unique else 1],
            "visitor_session_id": f.session_id, "visits_count": 1 + f.index % 4,
            "visitor_first_campaign_id": campaign["id"],
            "visitor_first_campaign_name": campaign["name"], "visitor_city": f.city,
            "visitor_region": f.region, "visitor_country": f.country,
            "visitor_device": f.device,
            "visitor_custom_properties": [{"property_name": "Город доставки",
                                           "property_value": f.city}] if f.index % 5 == 0
            else [],
            "segments": [{"segment_id": 40 + f.index % 3, "segment_name": "Горячие"}]
            if f.is_target else [],
            "site_id": site["id"], "site_domain_name": site["domain_name"],
            "campaign_id": campaign["id"], "campaign_name": campaign["name"],
            "visit_other_campaign": f.index % 6 == 1, **utm,
            "utm_referrer": None, "utm_expid": None, "openstat_ad": None,
            "openstat_campaign": None, "openstat_service": None, "openstat_source": None,
            "attributes": ["primary" if f.is_unique else "secondary"]
            + (["target"] if f.is_target else []),
            **{f"eq_{name}": value for name, value in utm.items()},
            "eq_utm_referrer": None, "eq_utm_expid": None,
            "source_id": 1 + CAMPAIGNS.index(next(c for c in CAMPAIGNS
                                                  if c[0] == campaign["name"])),
            "source_name": campaign["name"], "source_new": f.source,
            "channel_new": CHANNELS.get(f.medium, "referral"), "channel_code": f.medium,
        }

    def call_tags(self, scope: Scope, f: CallFacts) -> list[dict[str, Any]]:
        n = self.number(scope)
        when = fmt(f.started_local + dt.timedelta(hours=1))
        return [{"tag_id": self.tag_id(n, TAGS.index(name), name), "tag_name": name,
                 "tag_type": "auto" if name in SYSTEM_TAGS else "manual",
                 "tag_change_time": when, "tag_user_id": 555, "tag_user_login": "manager",
                 "tag_employee_id": self.employee_id(f), "tag_employee_full_name": f.manager
                 or None} for name in f.tags]

    @staticmethod
    def employee_id(f: CallFacts) -> int | None:
        return 6000 + MANAGERS.index(f.manager) if f.manager else None

    def call(self, scope: Scope, f: CallFacts) -> dict[str, Any]:
        comm, records, employee = self.comm_id(scope, f), self.record_ids(f), self.employee_id(f)
        who = {"id": employee, "full_name": f.manager or None}
        return {
            "id": f.call_id, "start_time": fmt(f.started_local),
            "finish_time": fmt(f.started_local + dt.timedelta(seconds=f.duration_s)),
            "finish_reason": "subscriber_disconnects" if f.answered else "timeout",
            "direction": f.direction, "cpn_region_id": 77 + CITY_NAMES.index(f.city),
            "cpn_region_name": f.region, "cpn_country_name": f.country,
            "cpn_country_id": "RU", "properties": None,
            "scenario_operations": [{"id": 1, "name": "Приветствие"},
                                    {"id": 2, "name": "Переадресация"}],
            "source": "sitephone" if f.is_callback else "dynamic_call_tracking"
            if f.medium == "cpc" else "call_tracking",
            "is_lost": not f.answered, "contact_phone_number": f.caller_number,
            "communication_id": comm, "communication_type": "call",
            "wait_duration": f.wait_s, "total_wait_duration": f.wait_s,
            "lost_call_processing_duration": None if f.answered else 120,
            "talk_duration": f.talk_s, "clean_talk_duration": max(0, f.talk_s - 1),
            "total_duration": f.duration_s, "postprocess_duration": 0,
            "call_records": self.record_texts(records),
            "wav_call_records": self.record_texts(records),
            "full_record_file_link": f"https://media.comagic.ru/{comm}/{f.call_id}"
            if records else None,
            "voice_mail_records": [], "virtual_phone_number": f.tracking_number,
            "is_transfer": f.index % 13 == 5,
            "employees": [{"employee_id": employee, "employee_full_name": f.manager,
                           "is_answered": True, "is_talked": f.talk_s > 0}] if employee else [],
            **{f"{which}_employee_{part}": who[part] for which in
               ("last_answered", "first_answered", "last_talked", "first_talked")
               for part in ("id", "full_name")},
            "last_answered_employee_rating": 5 if employee and f.index % 2 else None,
            "operator_phone_number": f.redirect_number if f.answered else None,
            "scenario_id": 300 + self.number(scope), "scenario_name": "Основной сценарий",
            "auto_call_campaign_name": None, "call_api_request_id": None,
            "call_api_external_id": None, "contact_id": None, "contact_full_name": None,
            "ext_id": None, **self.attribution(scope, f),
        }

    def legs(self, scope: Scope, f: CallFacts) -> list[dict[str, Any]]:
        start = f.started_local
        legs = [self.leg(f, 1, start, False), *([self.leg(f, 2, start + dt.timedelta(
            seconds=f.wait_s), True)] if f.answered else [])]
        return legs

    def leg(self, f: CallFacts, k: int, start: dt.datetime, operator: bool) -> dict[str, Any]:
        talked = operator and f.talk_s > 0
        return {
            "id": f.call_id * 100 + k, "call_session_id": f.call_id,
            "call_records": self.record_texts(self.record_ids(f)[:1] if talked else []),
            "wav_call_records": [], "start_time": fmt(start),
            "connect_time": fmt(start + dt.timedelta(seconds=2)) if talked else None,
            "duration": f.talk_s if operator else f.wait_s,
            "total_duration": f.duration_s if k == 1 else f.talk_s,
            "finish_reason": "subscriber_disconnects" if f.answered else "timeout",
            "finish_reason_description": "Абонент положил трубку",
            "virtual_phone_number": f.tracking_number,
            "calling_phone_number": f.caller_number,
            "called_phone_number": f.redirect_number if operator else f.tracking_number,
            "direction": f.direction, "is_transfered": False, "is_operator": operator,
            "employee_id": self.employee_id(f) if operator else None,
            "employee_full_name": f.manager if operator else None,
            "employee_phone_number": f.redirect_number if operator else None,
            "employee_rating": None, "scenario_id": 301, "scenario_name": "Основной сценарий",
            "is_coach": False, "release_cause_code": 16 if talked else 19,
            "release_cause_description": "Normal call clearing" if talked else "No answer",
            "is_failed": not f.answered, "is_talked": talked, "contact_id": None,
            "contact_full_name": None, "contact_phone_number": f.caller_number,
            "action_id": 10 + k, "action_name": "Переадресация" if operator else "Приветствие",
            "group_id": 70 if operator else None,
            "group_name": "Отдел продаж" if operator else None,
        }

    def goal(self, scope: Scope, f: CallFacts) -> dict[str, Any]:
        goal_id = 2 * 10**9 + self.number(scope) * 10**7 + (f.day - self.first_day).days * 1000 \
            + f.index
        return {"id": goal_id, "date_time": fmt(f.started_local),
                "name": ("Заявка на замер", "Просмотр прайса", "Корзина")[f.index % 3],
                "type": "site", "ext_id": None, "source": "site",
                "communication_id": self.comm_id(scope, f), "communication_type": "goal",
                **self.attribution(scope, f)}

    def offline_message(self, scope: Scope, f: CallFacts) -> dict[str, Any]:
        processed = f.answered
        return {
            **self.attribution(scope, f), "id": self.comm_id(scope, f),
            "date_time": fmt(f.started_local), "text": "Перезвоните мне, пожалуйста",
            "status": "processed" if processed else "not_processed",
            "process_time": fmt(f.started_local + dt.timedelta(minutes=20)) if processed
            else None,
            "form_type": "callback" if f.index % 2 else "order", "form_name": "Обратный звонок",
            "is_agree_to_process_personal_data": True, "is_agree_to_mailing": f.index % 3 == 0,
            "group_id": 70, "group_name": "Отдел продаж",
            "employee_id": self.employee_id(f), "employee_full_name": f.manager or None,
            "visitor_name": "Клиент", "visitor_phone_number": int(f.caller_number),
            "visitor_email": f"client{f.index}@example.ru", "ext_id": None,
            "communication_type": "offline_message", "communication_id": self.comm_id(scope, f),
            "properties": None, "employee_answer_message": "Перезвонили" if processed else None,
            "employee_comment": None, "source": "site", "utm_referrer": None,
        }

    def chat(self, scope: Scope, f: CallFacts) -> dict[str, Any]:
        seconds = f.duration_s
        return {
            **self.attribution(scope, f), "id": self.comm_id(scope, f),
            "status": "closed", "initiator": "visitor" if f.index % 4 else "operator",
            "date_time": fmt(f.started_local),
            "duration": str(seconds),  # a string of seconds, as the docs' table says
            "answer_time": f.wait_s if f.answered else None,  # seconds (a number)
            "communication_id": self.comm_id(scope, f), "communication_type": "chat",
            "chat_ad_url": None, "chat_user_id": None, "chat_username": None,
            "employee_messages_count": 1 + f.index % 5 if f.answered else 0,
            "visitor_ids": [stable_int("visitor", scope.key, f.caller_number) % 10**8],
            "chat_channel_id": 31, "chat_channel_name": "Онлайн-консультант",
            "chat_channel_type": "site", "messages_count": 2 + f.index % 9,
            "is_group_chat": False, "is_transfer": f.index % 13 == 5,
            "release_cause": "visitor_closed" if f.answered else "timeout",
            "employee_id": self.employee_id(f), "employee_full_name": f.manager or None,
            "employee_raiting": 5 if f.answered and f.index % 2 else None,
            "visitor_phone_number": int(f.caller_number) if f.index % 3 == 0 else None,
        }

    def communication(self, scope: Scope, f: CallFacts, kind: str) -> dict[str, Any]:
        return {**self.attribution(scope, f), "id": self.comm_id(scope, f),
                "communication_type": kind, "date_time": fmt(f.started_local)}

    def daily_stat(self, scope: Scope, site_id: int, day: dt.date) -> list[dict[str, Any]]:
        rows = []
        for campaign in (c for c in self.campaigns(scope) if c["site_id"] == site_id):
            groups = [(g, k) for g in range(2) for k in range(2)] if campaign["engine"] \
                else [(None, None)]
            for group, keyword in groups:
                rows.append(self.stat_row(campaign, day, group, keyword))
        return rows

    @staticmethod
    def stat_row(campaign: dict[str, Any], day: dt.date, group: int | None,
                 keyword: int | None) -> dict[str, Any]:
        seed = stable_int("stat", campaign["id"], day, group, keyword)
        clicks = seed % 40
        group_id = keyword_id = None
        banner_name = None
        if group is not None and keyword is not None:
            group_id = campaign["id"] * 10 + group
            keyword_id = group_id * 10 + keyword
            banner_name = f"Объявление {group + 1}"
        return {
            "date": day.isoformat(), "site_id": campaign["site_id"],
            "campaign_id": campaign["id"],  # answered as campain_id (see renamed())
            "site_domain_name": campaign["site_domain_name"],
            "campaign_name": campaign["name"], "engine": campaign["engine"],
            "campaign_ext_name": campaign["name"] if campaign["engine"] else None,
            "shows_count": clicks * 20 + seed % 7, "clicks_count": clicks,
            "calls_count": clicks // 10, "cost_sum": f"{clicks * 12.5:.2f}",
            "campaign_ext_id": str(campaign["id"] * 7) if campaign["engine"] else None,
            # the ad platform's ids: strings in the docs' table
            "banner_group_id": None if group_id is None else str(group_id),
            "banner_group_name": None if group is None else f"Группа {group + 1}",
            "keyword_id": None if keyword_id is None else str(keyword_id),
            "keyword": None if keyword is None else ("окна пвх", "остекление")[keyword],
            "chats_count": clicks // 15, "goals_count": clicks // 8,
            "offline_messages_count": clicks // 20, "visits_count": clicks + seed % 5,
            "current_banner_id": None if group_id is None else group_id * 10 + 1,
            "current_banner_name": banner_name,
            "banner_id": None if group_id is None else group_id * 10 + 1,
            "banner_name": banner_name,
            "attributes": [], "tags": [],
            "old_banner_ids": [], "daily_budget": 3000.0 if campaign["engine"] else None,
            "weekly_budget": None, "currency": "RUB" if campaign["engine"] else None,
            "session_ids": [], "source_id": None, "source_name": None, "communications": [],
        }



# --- the application -------------------------------------------------------------------------

def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    return moment.replace(year=year, month=month,
                          day=min(moment.day, calendar.monthrange(year, month)[1]))


def parse_datetime(value: Any, name: str) -> dt.datetime:
    if value is None:
        raise RpcError("required_parameter_missing", name)
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", value):
        raise RpcError("invalid_parameter_value", name, value)
    try:
        return dt.datetime.strptime(value, DATETIME)
    except ValueError:
        raise RpcError("invalid_parameter_value", name, value) from None


def sort_key(name: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
    return lambda row: (row.get(name) is None, row.get(name))


def whole(value: Any, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RpcError("invalid_parameter_value", name, value)
    return value


# Report method -> (World vendor key, row builder name, communication type)
REPORTS: dict[str, list[tuple[str, str, str]]] = {
    "get.calls_report": [("comagic", "call", "call")],
    "get.call_legs_report": [("comagic", "legs", "call")],
    "get.goals_report": [("comagic-goals", "goal", "goal")],
    "get.offline_messages_report": [("comagic-offline", "offline_message", "offline_message")],
    "get.chats_report": [("comagic-chats", "chat", "chat")],
    "get.communications_report": [("comagic", "communication", "call"),
                                  ("comagic-goals", "communication", "goal"),
                                  ("comagic-chats", "communication", "chat"),
                                  ("comagic-offline", "communication", "offline_message")],
}
#: Names a method answers under another name than the one asked (docs/fidelity.md).
CAMPAIN = {"campaign_id": "campain_id", "campain_id": "campain_id"}
SECRET_PARAMS = frozenset({"access_token", "password"})
MAX_WINDOW_LOG = 10_000


class ComagicApp:
    prefix = PREFIX

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.accounts = make_accounts(options.seed)
        self.by_token = {a.token: a for a in self.accounts.values() if a.token}
        self.data = Data(options)
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.controls = Controls()
            self.quota = Quota()
            self.sessions: dict[str, tuple[Account, float]] = {}
            self.issued: list[str] = []  # session tokens, for tests that look for leaks
            self.counts: Counter[str] = Counter()
            self.last_params: dict[str, Any] = {}
            self.windows: list[dict[str, Any]] = []  # dates of report calls, for tests

    # --- sandbox protocol --------------------------------------------------------------

    def tap_config(self, base_url: str) -> dict[str, Any]:
        accounts = self.accounts
        return {"comagic": {
            "api_url": base_url + PREFIX + API_PATH,
            "media_url": base_url + PREFIX + "/media",
            # the login account has no name: its label is its login
            "accounts": [accounts["direct"].config(), accounts["login"].config(with_name=False),
                         accounts["agency"].config()],
        }}

    def too_many_requests(self, retry_after: str) -> SandboxResponse:
        return SandboxResponse(429, b"Too Many Requests", "text/plain",
                               {"Retry-After": retry_after})

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path.startswith("/_sandbox/"):
            return self.control(request)
        media = MEDIA_PATH.match(request.path)
        if media:
            return self.media(int(media.group(1)), int(media.group(2)))
        if request.path.rstrip("/") != API_PATH:
            return SandboxResponse.html("404 Not Found", 404)
        if request.method != "POST":
            return SandboxResponse.html("405 Method Not Allowed", 405)
        if self.controls.delay_ms:
            time.sleep(self.controls.delay_ms / 1000)
        return self.rpc(request.body, request.client)

    # --- JSON-RPC ------------------------------------------------------------------------

    def rpc(self, raw: bytes, client: str) -> SandboxResponse:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return self.error(None, RpcError("parse_error"))
        if isinstance(body, list):
            return self.error(None, RpcError("batch_opreations_not_supported"))
        if not isinstance(body, dict) or body.get("jsonrpc") != "2.0" or \
                not isinstance(body.get("method"), str):
            return self.error(None, RpcError("invalid_request"))
        if body.get("id") is None:
            return self.error(None, RpcError("notifications_not_supported"))
        request_id, method, params = body["id"], body["method"], body.get("params", {})
        self.count(f"calls_{method}")
        try:
            if not isinstance(params, dict):
                raise RpcError("invalid_parameter_value", "params")
            self.remember(method, params)
            result = self.dispatch(method, params, client)
        except RpcError as exc:
            self.count(f"error_{exc.mnemonic}")
            return self.error(request_id, exc)
        return SandboxResponse.json({"jsonrpc": "2.0", "id": request_id, "result": result})

    def error(self, request_id: Any, exc: RpcError) -> SandboxResponse:
        # HTTP 200: the status of JSON-RPC errors is undocumented (NOTES 2.1).
        return SandboxResponse.json({"jsonrpc": "2.0", "id": request_id, "error": {
            "code": exc.code, "message": str(exc), "data": {
                "mnemonic": exc.mnemonic, "field": exc.field_name, "value": exc.value,
                "params": {}, "extended_helper": HELP,
                "metadata": {"limits": exc.limits} if exc.limits else {}}}})

    def dispatch(self, method: str, params: dict[str, Any], client: str) -> Any:
        if method == "login.user":
            return self.login(params)
        if method == "logout.user":
            return self.logout(params)
        spec = METHODS.get(method)
        if spec is None:
            raise RpcError("method_not_found", "method", method)
        unexpected = sorted(set(params) - spec.params)
        if method == "get.account" and "user_id" in params and \
                self.controls.account_user_id == "refuse":
            unexpected = ["user_id"]
        if unexpected:
            raise RpcError("unexpected_parameters", unexpected[0], params[unexpected[0]])
        account = self.authenticate(params.get("access_token"), client)
        try:
            return self.answer(method, spec, account, params)
        except RpcError as exc:
            if exc.limits is None:
                with self.lock:
                    exc.limits = self.quota.limits(account.app_id, self.controls)
            raise

    def answer(self, method: str, spec: Method, account: Account, params: dict[str, Any]
               ) -> Any:
        scope = self.scope_of(account, params.get("user_id"))
        if method in account.disabled:
            raise RpcError("method_component_disabled", "method", method)
        self.injected(method, account)
        with self.lock:
            self.quota.check(account.app_id, self.controls)
        rows, total = self.rows(method, spec, scope, params)
        with self.lock:
            self.quota.charge(account.app_id, self.controls)
            limits = self.quota.limits(account.app_id, self.controls)
        if spec.bare and "comagic-stat-data" not in self.options.quirks:
            return rows  # the doc's example of campaign_daily_stat (NOTES quirk 23)
        key = "meta_data" if method in ("get.account", "get.sites") else "metadata"
        return {"data": rows, key: {"total_items": total, "limits": limits}}

    # --- auth ------------------------------------------------------------------------------

    def authenticate(self, token: Any, client: str) -> Account:
        account = self.by_token.get(token) if isinstance(token, str) else None
        if account is None:
            with self.lock:
                session = self.sessions.get(token) if isinstance(token, str) else None
            if session is None:
                raise RpcError("access_token_invalid", "access_token")
            account, expires = session
            if time.monotonic() >= expires:
                raise RpcError("access_token_expired", "access_token")
        if account.role == "blocked":
            raise RpcError("access_token_blocked", "access_token")
        if account.role == "ip_denied":
            raise RpcError("ip_not_whitelisted", ip=client)
        return account

    @staticmethod
    def scope_of(account: Account, user_id: Any) -> Scope:
        if user_id is None:
            return Scope(account)
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise RpcError("invalid_parameter_value", "user_id", user_id)
        client = next((c for c in account.clients if c.user_id == user_id), None)
        if client is None:
            raise RpcError("forbidden", "user_id", user_id)
        return Scope(account, client)

    def login(self, params: dict[str, Any]) -> dict[str, Any]:
        unexpected = sorted(set(params) - {"login", "password"})
        if unexpected:
            raise RpcError("unexpected_parameters", unexpected[0])
        for name in ("login", "password"):
            if not params.get(name):
                raise RpcError("required_parameter_missing", name)
        account = next((a for a in self.accounts.values() if a.login and
                        a.login == params["login"] and a.password == params["password"]), None)
        if account is None:
            raise RpcError("auth_error")
        token = secrets.token_hex(20)
        with self.lock:
            lifetime = self.controls.token_lifetime_s
            reported = self.controls.reported_lifetime_s or lifetime
            self.sessions[token] = (account, time.monotonic() + lifetime)
            self.issued.append(token)
        self.count("login_ok")
        return {"data": {"access_token": token, "expire_at": int(time.time() + reported),
                         "app_id": account.app_id}}

    def logout(self, params: dict[str, Any]) -> dict[str, Any]:
        unexpected = sorted(set(params) - {"access_token"})
        if unexpected:
            raise RpcError("unexpected_parameters", unexpected[0])
        token = params.get("access_token")
        with self.lock:
            session = self.sessions.pop(token, None) if isinstance(token, str) else None
        if session is None and token not in self.by_token:
            raise RpcError("access_token_invalid", "access_token")
        if session is not None and time.monotonic() >= session[1]:
            raise RpcError("access_token_expired", "access_token")
        self.count("logout_ok")
        return {"data": {}}

    def injected(self, method: str, account: Account) -> None:
        """Answer the next queued error, if one applies to this method."""
        with self.lock:
            entry = next((e for e in self.controls.inject if e.get("count", 1) > 0
                          and e.get("method") in (None, method)), None)
            if entry is None:
                return
            entry["count"] = entry.get("count", 1) - 1
            kind = entry.get("limit", "minute")
            error = RpcError(entry["mnemonic"], limit=kind, ip="")
            limits = self.quota.limits(account.app_id, self.controls)
        if entry["mnemonic"] == "limit_exceeded":
            limits.update({f"{kind}_remaining": 0, f"{kind}_reset": 1})
            self.count(f"limit_exceeded_{kind}")
        error.limits = limits
        raise error

    # --- rows ------------------------------------------------------------------------------

    def rows(self, method: str, spec: Method, scope: Scope, params: dict[str, Any]
             ) -> tuple[list[dict[str, Any]], int]:
        fields = self.fields(method, spec, params.get("fields"))
        limit = whole(params.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = whole(params.get("offset"), "offset", 0, 0, MAX_OFFSET)
        order = self.sort(method, spec, params.get("sort"))
        if spec.dated:
            first, last = self.dates(spec, params)
            if scope.account.role == "big" and method == "get.calls_report":
                return self.big_calls(first, last, fields, offset, limit)
            full = self.report(method, scope, first, last, params)
        else:
            full = self.listing(method, scope)
        for name, descending in reversed(order):
            full.sort(key=sort_key(name), reverse=descending)
        renamed = self.renamed(method)
        page = full[offset:offset + limit]
        source = {"campain_id": "campaign_id"}
        return [{renamed.get(f, f): row.get(source.get(f, f)) for f in fields}
                for row in page], len(full)

    def renamed(self, method: str) -> dict[str, str]:
        """get.campaign_daily_stat answers ``campain_id`` (the docs' example) whichever
        spelling was asked, unless the quirk ``comagic-stat-campaign-id`` is on."""
        if method != "get.campaign_daily_stat" or \
                "comagic-stat-campaign-id" in self.options.quirks:
            return {}
        return CAMPAIN

    def fields(self, method: str, spec: Method, requested: Any) -> tuple[str, ...]:
        if requested is None:  # only the default set (NOTES quirk 15)
            return spec.defaults
        if not isinstance(requested, list):
            raise RpcError("invalid_parameter_value", "fields", requested)
        hidden = set(self.controls.unknown_fields.get(method, []))
        quirks = self.options.quirks
        if method == "get.campaign_daily_stat" and "comagic-stat-campain-only" in quirks:
            hidden.add("campaign_id")
        known = spec.fields if "comagic-documented-fields" in quirks else \
            spec.fields + spec.extras
        for name in requested:
            if not isinstance(name, str) or name not in known or name in hidden:
                raise RpcError("unexpected_parameters", "fields", name)
        return tuple(requested)

    @staticmethod
    def sort(method: str, spec: Method, requested: Any) -> list[tuple[str, bool]]:
        default = DATE_FIELD.get(method, "date_time") if spec.dated else "id"
        if requested is None:
            return [(default, False)] + ([("id", False)] if "id" in spec.fields else [])
        if not isinstance(requested, list):
            raise RpcError("invalid_parameter_value", "sort", requested)
        order = []
        for item in requested:
            name = item.get("field") if isinstance(item, dict) else None
            direction = item.get("order", "asc") if isinstance(item, dict) else None
            if name not in spec.fields:
                raise RpcError("unexpected_parameters", "sort", name)
            if name not in spec.sortable:
                raise RpcError("sort_prohibited", "sort", name)
            if direction not in ("asc", "desc"):
                raise RpcError("invalid_parameter_value", "sort", direction)
            order.append((name, direction == "desc"))
        return order

    @staticmethod
    def dates(spec: Method, params: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
        first = parse_datetime(params.get("date_from"), "date_from")
        last = parse_datetime(params.get("date_till"), "date_till")
        if last < first:
            raise RpcError("invalid_parameter_value", "date_till", params["date_till"])
        too_long = (last - first > dt.timedelta(days=spec.max_days) if spec.max_days
                    else last > add_months(first, 3))
        if too_long:
            raise RpcError("date_interval_limit_reached", "date_till", params["date_till"])
        return first, last

    def listing(self, method: str, scope: Scope) -> list[dict[str, Any]]:
        account = scope.account
        if method == "get.account":
            client = scope.client
            if client is not None and self.controls.account_user_id == "accept":
                return [{"app_id": client.customer_id, "name": client.name,
                         "timezone": client.timezone}]
            return [{"app_id": account.app_id, "name": account.name,
                     "timezone": account.timezone}]
        if method == "get.customer_users":
            return [{"id": c.user_id, "login": c.login, "name": c.name,
                     "customer_id": c.customer_id, "description": None}
                    for c in account.clients]
        if scope.is_agency_itself:
            return []
        build: dict[str, Callable[[Scope], list[dict[str, Any]]]] = {
            "get.sites": self.data.sites, "get.tags": self.data.tags,
            "get.campaigns": self.data.campaigns}
        return build[method](scope)

    def report(self, method: str, scope: Scope, first: dt.datetime, last: dt.datetime,
               params: dict[str, Any]) -> list[dict[str, Any]]:
        if scope.is_agency_itself:
            return []
        if method == "get.campaign_daily_stat":
            return self.daily_stat(scope, first, last, params.get("site_id"))
        rows: list[dict[str, Any]] = []
        date_field = DATE_FIELD.get(method, "date_time")
        for vendor, builder, kind in REPORTS[method]:
            world = self.data.world if vendor == "comagic" else self.data.others
            for facts in world.calls_between(vendor, scope.key, first.date(), last.date()):
                rows += [row for row in self.build(builder, scope, facts, kind)
                         if first <= dt.datetime.strptime(row[date_field], DATETIME) <= last]
        return rows

    def build(self, builder: str, scope: Scope, facts: CallFacts, kind: str
              ) -> Iterable[dict[str, Any]]:
        data = self.data
        if builder == "legs":
            return data.legs(scope, facts)
        if builder == "communication":
            return [data.communication(scope, facts, kind)]
        return [getattr(data, builder)(scope, facts)]

    def daily_stat(self, scope: Scope, first: dt.datetime, last: dt.datetime,
                   site_id: Any) -> list[dict[str, Any]]:
        if site_id is None:
            raise RpcError("required_parameter_missing", "site_id")
        if site_id not in {site["id"] for site in self.data.sites(scope)}:
            raise RpcError("invalid_parameter_value", "site_id", site_id)
        rows, day = [], max(first.date(), self.options.first_day)
        while day <= min(last.date(), self.data.world.last_day):
            rows += self.data.daily_stat(scope, site_id, day)
            day += dt.timedelta(days=1)
        return rows

    def big_calls(self, first: dt.datetime, last: dt.datetime, fields: tuple[str, ...],
                  offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """``big_rows`` calls spread evenly over BIG_DAY, made only for the page asked."""
        n = self.controls.big_rows
        midnight = dt.datetime.combine(BIG_DAY, dt.time(0))
        low = max(0, int((first - midnight).total_seconds()))
        high = min(86_399, int((last - midnight).total_seconds()))
        if high < low:
            return [], 0
        k_low = -(-low * n // 86_400)  # first k with k * 86400 // n >= low
        k_high = min(n, -(-(high + 1) * n // 86_400)) - 1
        total = max(0, k_high - k_low + 1)
        ks = range(k_low + offset, min(k_high + 1, k_low + offset + limit))
        rows = []
        for k in ks:
            row = {"id": 900_000_000 + k, "communication_id": 1_900_000_000 + k,
                   "start_time": fmt(midnight + dt.timedelta(seconds=k * 86_400 // n)),
                   "communication_type": "call", "direction": "in", "is_lost": False,
                   "call_records": [], "total_duration": 60}
            rows.append({name: row.get(name) for name in fields})
        return rows, total

    # --- record links ----------------------------------------------------------------------

    def scopes(self) -> Iterable[Scope]:
        for account in self.accounts.values():
            yield Scope(account)
            yield from (Scope(account, client) for client in account.clients)

    def is_media(self, path: str) -> bool:
        """A recording download (the sandbox's --faults cut these bodies too)."""
        return MEDIA_PATH.match(path) is not None

    def media(self, communication_id: int, record_id: int) -> SandboxResponse:
        for scope in self.scopes():
            offset = communication_id - 10**9 - self.data.number(scope) * 10**7
            if not 0 <= offset < 10**7:
                continue
            day = self.options.first_day + dt.timedelta(days=offset // 1000)
            calls = self.data.world.calls_on("comagic", scope.key, day)
            facts = calls[offset % 1000] if offset % 1000 < len(calls) else None
            if facts is not None and record_id in self.data.record_ids(facts):
                self.count("media_ok")
                body = record_bytes("comagic", scope.key, record_id, 4096 + facts.talk_s * 16)
                return SandboxResponse(200, body, "audio/mpeg")
        self.count("media_404")
        return SandboxResponse.html("404 Not Found", 404)

    # --- test controls ---------------------------------------------------------------------

    def count(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1

    def remember(self, method: str, params: dict[str, Any]) -> None:
        with self.lock:
            kept = {k: v for k, v in params.items() if k not in SECRET_PARAMS}
            self.last_params[method] = kept
            if "date_from" in params and len(self.windows) < MAX_WINDOW_LOG:
                self.windows.append({"method": method, "user_id": params.get("user_id"),
                                     "date_from": params.get("date_from"),
                                     "date_till": params.get("date_till"),
                                     "offset": params.get("offset")})

    def control(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path.rstrip("/")
        if path == "/_sandbox/accounts":
            return SandboxResponse.json({role: self.describe(account) for role, account
                                         in self.accounts.items()})
        if path == "/_sandbox/state":
            with self.lock:
                return SandboxResponse.json({
                    "counts": dict(self.counts), "last_params": self.last_params,
                    "windows": self.windows,
                    "controls": asdict(self.controls), "sessions": len(self.sessions),
                    "issued_tokens": self.issued})
        if path == "/_sandbox/reset" and request.method == "POST":
            self.reset()
            return SandboxResponse.json({"reset": True})
        if path == "/_sandbox/options" and request.method == "POST":
            return self.set_options(request.body)
        return SandboxResponse.json({"error": "unknown control path"}, 404)

    def set_options(self, body: bytes) -> SandboxResponse:
        try:
            changes = json.loads(body or b"{}")
            assert isinstance(changes, dict)
        except (ValueError, AssertionError):
            return SandboxResponse.json({"error": "a JSON object is expected"}, 400)
        unknown = sorted(set(changes) - set(Controls.__dataclass_fields__))
        if unknown:
            return SandboxResponse.json({"error": f"unknown options: {unknown}"}, 400)
        with self.lock:
            for name, value in changes.items():
                setattr(self.controls, name, value)
            return SandboxResponse.json(asdict(self.controls))

    @staticmethod
    def describe(account: Account) -> dict[str, Any]:
        return {**account.config(), "role": account.role, "app_id": account.app_id,
                "timezone": account.timezone,
                "clients": [asdict(client) for client in account.clients],
                "disabled_methods": sorted(account.disabled)}
