"""The web UI: the start form without secrets and with its bad values refused, a live tab of our
microsecond histograms, and the finished report served.

No Locust import: these work on Locust's WebUI object (its Flask app and template args).
"""

from __future__ import annotations

import copy
import json
import os

from flask import jsonify, make_response, send_from_directory
from flask import request as flask_request

from .. import options
from ..options import BadInput
from ..targets import REDACTED
from ..report.live import LIVE_COLUMNS, live_rows

def restore_redacted(ns, startup: dict) -> None:
    """The web form shows URLs with the password as *** and secret fields empty; a form sent back
    with those values keeps the passwords the process started with."""
    if not startup:  # the first call (at init) records the options as given
        startup.update({d: getattr(ns, d, "") for d in (*options.URL_DESTS, *options.SECRET_DESTS)})
        return
    for dest, original in startup.items():
        value = getattr(ns, dest, "")
        if dest in options.SECRET_DESTS:
            if not value and original:
                setattr(ns, dest, original)
        elif value != original and value == options.redact_for_display(dest, original):
            setattr(ns, dest, original)
        elif REDACTED + "@" in str(value):
            raise BadInput("--" + dest.replace("_", "-"), "the password shows as *** on the web form; type it in "
                                                          "the URL again or give it with the password option")


def redact_web_form(web_ui) -> None:
    """Locust serialises every web-UI option's value into the start page (secret ones too): show
    URLs with the password as *** and secret fields empty (restore_redacted puts them back)."""
    update = web_ui.update_template_args

    def redact():
        for dest, field in (web_ui.template_args.get("extra_options") or {}).items():
            if dest in options.SECRET_DESTS:
                field["default_value"] = ""
            elif dest in options.URL_DESTS:
                field["default_value"] = options.redact_for_display(dest, field.get("default_value"))

    def update_and_redact():
        update()
        redact()

    web_ui.update_template_args = update_and_redact
    redact()
    # the page's options keep our order (the run's shape and objectives first, connections after)
    # instead of alphabetical JSON keys (Flask's provider and Jinja's tojson both sort by default)
    web_ui.app.json.sort_keys = False
    web_ui.app.jinja_env.policies["json.dumps_kwargs"] = {"sort_keys": False}


def _form_value(current, value: str, form, key: str):
    """A form field's value the way Locust's /swarm handler sets it: keeping the option's type."""
    if isinstance(current, bool):
        return value == "true"
    if current is None:
        return value
    if isinstance(current, list):
        return value.split(",") if "," in value else form.getlist(key)
    return type(current)(value)


def refuse_bad_form(web_ui, parsed_options, startup: dict) -> None:
    """A start form with a bad value (read ratio 1.5) is answered as Locust answers a bad user count:
    success false and the one line naming the option and the fix, which the form shows where Start
    was pressed; nothing starts. (Without this the run began, stopped at once, and the reason was
    only in the logs tab.)"""
    ours = {o.dest for o in options.ALL_OPTIONS}

    @web_ui.app.before_request
    def _check_the_form():
        if flask_request.path != "/swarm" or flask_request.method != "POST":
            return None
        ns, form = copy.copy(parsed_options), flask_request.form
        try:
            for key, value in form.items():
                if key in ours and hasattr(ns, key):
                    try:
                        setattr(ns, key, _form_value(getattr(ns, key), value, form, key))
                    except ValueError:
                        raise BadInput("--" + key.replace("_", "-"), f"{value!r} is not a "
                                       f"{type(getattr(ns, key)).__name__}; give one") from None
            restore_redacted(ns, startup)
            settings = options.settings_from(ns)
            options.check_report_dir(settings.report_dir)
        except BadInput as e:
            return jsonify({"success": False, "message": str(e), "host": form.get("host", "")})
        return None


WEB_TAB = "cacheswarm"


def install_web_tab(web_ui, live, where=lambda: None) -> None:
    """A 'cacheswarm live' tab: per phase our figures (µs precision, where Locust's own tables round
    to whole ms), hit ratio and the objectives' state so far; the report's path once written.
    `live()` -> (report so far or None, report directory or None); `where()` -> the running phase's
    progress line (first row), or None. (No 'µs' in the tab title: the
    UI upper-cases tab titles, and an upper-case µ is a Greek capital mu, which reads as 'MS'.)"""
    web_ui.template_args["extended_tabs"] = [{"title": "cacheswarm live", "key": WEB_TAB}]
    web_ui.template_args["extended_tables"] = [
        {"key": WEB_TAB, "structure": [{"key": k, "title": t} for k, t in LIVE_COLUMNS]}]

    @web_ui.app.after_request
    def _add_our_stats(response):
        if flask_request.path != "/stats/requests" or not response.is_json:
            return response
        payload = response.get_json()
        now = where()
        payload["extended_stats"] = [{"key": WEB_TAB, "data": ([{"phase": now}] if now else []) + live_rows(*live())}]
        response.set_data(json.dumps(payload))
        return response


REPORT_PATH = "/cacheswarm/report/"


def serve_report(web_ui, report_dir) -> None:
    """The finished run's report, served read-only from its own directory (Flask's send_from_directory
    refuses any path outside it) at REPORT_PATH, behind the UI's login when it has one, and linked
    from the Download Data tab. `report_dir()` -> the directory the run wrote, or None."""
    web_ui.template_args["extended_csv_files"] = [
        {"href": "." + REPORT_PATH, "title": "cacheswarm report of the last run (comparison.html)"}]

    @web_ui.app.route(REPORT_PATH, defaults={"name": "comparison.html"})
    @web_ui.app.route(REPORT_PATH + "<path:name>")
    @web_ui.auth_required_if_enabled
    def _report(name):
        directory = report_dir()
        if not directory:
            return make_response("no report yet: it is written when the run ends", 404)
        return send_from_directory(os.path.abspath(directory), name)

