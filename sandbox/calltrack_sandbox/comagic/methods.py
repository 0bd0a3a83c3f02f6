"""The method table: each method's fields (the default set first), parameters, sorting and
window; the rows each report is built from."""

from __future__ import annotations

from dataclasses import dataclass

DATETIME = "%Y-%m-%d %H:%M:%S"  # dates in parameters and rows, in the account's zone
MAX_LIMIT, MAX_OFFSET, DEFAULT_LIMIT = 10_000, 100_000, 1000


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
