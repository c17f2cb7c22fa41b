"""The model configuration's form (its stop sequences one a line, escaped)."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings

from inference.models import ModelConfig
from inference.pricing import pricing_problems

# How a stop sequence is written on one line of the form: a newline as \n (two characters),
# a tab as \t, a carriage return as \r, a backslash as \\.
STOP_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
STOP_UNESCAPES = {escaped[1]: char for char, escaped in STOP_ESCAPES.items()}


def stops_as_text(stops: list[str]) -> str:
    """Stop sequences as the form shows them: one a line, escaped (STOP_ESCAPES)."""
    return "\n".join("".join(STOP_ESCAPES.get(c, c) for c in stop) for stop in stops)


def stops_from_text(text: str) -> list[str]:
    """The form's lines back as stop sequences, empty lines left out. A backslash before any
    other character is kept as it is (`\\d` stays `\\d`)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # as browsers send
    return [stop for line in lines if (stop := _unescape(line))]


def _unescape(line: str) -> str:
    # Odd items of the split are a backslash and the character after it.
    parts = re.split(r"(\\.)", line)
    return "".join(STOP_UNESCAPES.get(p[1], p) if i % 2 else p for i, p in enumerate(parts))


class ModelConfigForm(forms.ModelForm):
    stop = forms.CharField(
        required=False,
        strip=False,  # a stop sequence may start or end with a space
        help_text="Stop sequences, one a line; empty: none. Write a newline in a sequence as "
        "\\n, a tab as \\t and a backslash as \\\\ (a blank line between paragraphs: \\n\\n).",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    class Meta:
        model = ModelConfig
        fields = (
            "name",
            "backend",
            "model",
            "system_prompt",
            "temperature",
            "top_p",
            "max_tokens",
            "seed",
            "stop",
            "batch_size",
            "concurrency",
            "mode",
            "base_url",
            "api_key_env",
            "queue",
            "hourly_usd",
            "pricing",
            "cold_start_s",
            "min_billed_s",
            "power_watts",
            "idle_watts",
            "kwh_usd",
            "route_primary",
            "route_fallback",
            "route_on_errors",
            "route_share",
            "route_queue_depth",
            "route_ttft_s",
        )
        widgets = {"system_prompt": forms.Textarea(attrs={"rows": 3})}
        # What people call them, where the field's name reads badly ("Hourly usd", "Kwh usd").
        labels = {
            "base_url": "Base URL",
            "api_key_env": "API key variable",
            "hourly_usd": "Hourly price (USD)",
            "cold_start_s": "Cold start (seconds)",
            "min_billed_s": "Minimum billed (seconds)",
            "kwh_usd": "Electricity (USD per kWh)",
            "route_ttft_s": "Route when the first token takes over (seconds)",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mode"].required = False
        self.fields["pricing"].required = False  # empty: per token, as before
        # Each is for one kind of backend: the other may be left empty (it keeps its value).
        for name in ("batch_size", "concurrency"):
            self.fields[name].required = False
        self.fields["base_url"].help_text = (
            "Hosted backends. Empty: the provider's own API. Only addresses the operator "
            "allows (listed below) are accepted."
        )
        self.fields["api_key_env"].help_text = (
            "The name of the environment variable with the key, never the key. Empty: the "
            "provider's usual variable, where the operator allows it to be sent."
        )
        # The model's value is a list, which the text field would show as "[]".
        self.initial["stop"] = stops_as_text(self.instance.stop or [])
        if not self.instance.pk and not self.initial.get("model"):
            self.initial["model"] = settings.MLX_MODEL

    def clean_mode(self) -> str:
        return self.cleaned_data.get("mode") or "stream"

    def clean_pricing(self) -> str:
        return self.cleaned_data.get("pricing") or "token"

    def clean_batch_size(self) -> int:
        return self.cleaned_data.get("batch_size") or self.instance.batch_size

    def clean_concurrency(self) -> int:
        return self.cleaned_data.get("concurrency") or self.instance.concurrency

    def clean(self):
        data = super().clean()
        if data.get("mode") == "batch" and data.get("backend") != "anthropic":
            self.add_error("mode", "Batch mode is for the Anthropic backend.")
        key_env = data.get("api_key_env") or ""
        if key_env and not key_env.replace("_", "").isalnum():
            self.add_error("api_key_env", "The name of an environment variable, not a key.")
        for name, problem in pricing_problems(data).items():
            if name in self.fields and name not in self.errors:
                self.add_error(name, problem)
        return data

    def clean_stop(self) -> list[str]:
        return stops_from_text(self.cleaned_data["stop"])

    def clean_temperature(self):
        value = self.cleaned_data["temperature"]
        if value is not None and not 0 <= value <= 2:
            raise forms.ValidationError("Temperature goes from 0 to 2.")
        return value

    def clean_top_p(self):
        value = self.cleaned_data["top_p"]
        if value is not None and not 0 < value <= 1:
            raise forms.ValidationError("top_p is above 0 and at most 1.")
        return value
