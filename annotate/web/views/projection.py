"""The projection ("what would a workload take?") on the stats page, and its CSV. Its inputs are
a GET form, so a projection's address can be shared."""

from __future__ import annotations

from django.http import HttpRequest, QueryDict

from annotate.stats import charts, hybrid
from annotate.stats.figures import ModelStats
from annotate.stats.projection import (
    NoHybrid,
    NoTokens,
    Workload,
    compare,
    projection_rows,
    unrun_prices,
    workload_for,
)
from annotate.web.projection_form import ProjectionForm

# The seed analysis' questions, one click each: (label, the inputs they set).
PRESETS = (
    ("1,000 queries × 100 tokens", {"queries": "1000", "output_tokens": "100", "per_day": None}),
    ("A 35,000-query development phase", {"queries": "35000", "per_day": None}),
    ("10,000 queries a day, monthly cost", {"queries": "10000", "per_day": "on"}),
)


def _presets(query: QueryDict) -> list[tuple[str, str]]:
    """Each preset's address: the current inputs with the preset's put over them."""
    links = []
    for label, values in PRESETS:
        q = query.copy()
        if "queries" not in q:  # from a page never projected: the form's first values
            q.setlist("always_on", ["on"])
            q.setlist("unrun", ["on"])
        for name, value in values.items():
            q.setlist(name, [value] if value else [])
        links.append((label, q.urlencode()))
    return links


def _workload(form: ProjectionForm, config_ids: list[int]) -> Workload | None:
    """The form's workload; None (the form then says why) when it is invalid."""
    if not form.is_valid():
        return None
    skip = ("unrun", *ProjectionForm.HYBRID)
    settings = {k: v for k, v in form.cleaned_data.items() if k not in skip}
    try:
        return workload_for(**settings, config_ids=config_ids)
    except NoTokens as error:
        form.add_error(None, str(error))
        return None


def _form(request: HttpRequest) -> ProjectionForm:
    if "queries" in request.GET:
        return ProjectionForm(request.GET)
    # Never projected: the form's first values, tokens as measured.
    return ProjectionForm({"queries": 1000, "always_on": "on", "unrun": "on"})


def _project(request: HttpRequest, stats: list[ModelStats], config_ids: list[int]):
    """(the form, its workload, the projection): the last two None when the form is invalid."""
    form = _form(request)
    asked = _workload(form, config_ids)
    if asked is None:
        return form, None, None
    data = form.cleaned_data
    try:
        what_if = hybrid.ask(
            stats,
            data["hybrid_primary"] and data["hybrid_primary"].pk,
            data["hybrid_fallback"] and data["hybrid_fallback"].pk,
            data["hybrid_share"],
        )
    except NoHybrid as error:
        form.add_error(error.field, str(error))
        return form, None, None
    prices = unrun_prices(stats) if data["unrun"] else []
    return form, asked, compare(stats, asked, prices, what_if)


def projection_context(
    request: HttpRequest, stats: list[ModelStats], config_ids: list[int]
) -> dict:
    """What templates/annotate/_projection.html shows."""
    form, asked, projection = _project(request, stats, config_ids)
    hint = ""
    if asked is None and "queries" not in request.GET:
        # Never projected and nothing measured yet: a hint, not an error.
        hint = " ".join(form.non_field_errors())
        form = ProjectionForm(initial={"queries": 1000})
    return {
        "hint": hint,
        "form": form,
        "workload": asked,
        "projection": projection,
        "ways_chart": charts.ways_chart(projection["ways"], asked) if projection else [],
        "presets": _presets(request.GET),
    }


def projection_table(
    request: HttpRequest, stats: list[ModelStats], config_ids: list[int]
) -> tuple[list[dict] | None, str]:
    """The projection for the request's inputs as flat rows (the CSV), or None and why not."""
    form, asked, projection = _project(request, stats, config_ids)
    if asked is None and "queries" not in request.GET:
        return [], ""  # never projected, and no tokens measured to start from
    if asked is None:
        return None, form.errors.as_text() or "Invalid workload."
    return projection_rows(projection, asked), ""
