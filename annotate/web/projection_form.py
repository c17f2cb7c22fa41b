"""The projection's form (the stats page's GET form: its inputs are the page's address)."""

from __future__ import annotations

from django import forms

from annotate.datasets.models import Dataset
from inference.models import ModelConfig


class ProjectionForm(forms.Form):
    """A workload to project (the stats page's GET form: its inputs are the page's address).
    Tokens left empty are the mean of measured outputs (of the dataset, if one is chosen)."""

    queries = forms.IntegerField(min_value=1, max_value=10**9, initial=1000)
    input_tokens = forms.IntegerField(
        min_value=0, max_value=10**6, required=False, label="Input tokens per query"
    )
    output_tokens = forms.IntegerField(
        min_value=1, max_value=10**6, required=False, label="Output tokens per query"
    )
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.order_by("name"),
        required=False,
        label="Empty tokens: measured on",
        empty_label="every model shown",
    )
    per_day = forms.BooleanField(required=False, label="Per day (else in total)")
    concurrent = forms.BooleanField(required=False, label="Batched / concurrent")
    always_on = forms.BooleanField(
        required=False, initial=True, label="Local machines run 24/7 (per-day workloads)"
    )
    batch_api = forms.BooleanField(required=False, label="Use batch APIs (discount)")
    quality_bar = forms.FloatField(required=False, label="Minimum mean rating")
    unrun = forms.BooleanField(
        required=False, initial=True, label="Hosted models never run (price table)"
    )
    # A what-if hybrid (annotate/stats/hybrid.py, which checks them): all three, or none.
    hybrid_primary = forms.ModelChoiceField(
        queryset=ModelConfig.objects.order_by("name"),
        required=False,
        label="First configuration",
        empty_label="none",
    )
    hybrid_fallback = forms.ModelChoiceField(
        queryset=ModelConfig.objects.order_by("name"),
        required=False,
        label="Second configuration",
        empty_label="none",
    )
    hybrid_share = forms.FloatField(required=False, label="% of queries to the second")

    HYBRID = ("hybrid_primary", "hybrid_fallback", "hybrid_share")
