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
