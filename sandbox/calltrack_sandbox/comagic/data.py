"""Synthetic rows of every method, rendered from the World's facts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from calltrack_sandbox.comagic.accounts import Scope
from calltrack_sandbox.comagic.methods import DATETIME
from calltrack_sandbox.protocol import SandboxOptions
from calltrack_sandbox.world import CITIES, MANAGERS, TAGS, CallFacts, World, stable_int


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
