from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import QuerySet
from django.template.defaultfilters import filesizeformat

from annotate.accounts.throttling import CooledDown, sign_in
from annotate.datasets.importing import upload_too_big
from annotate.datasets.models import Dataset
from annotate.exports.filters import clean_filters
from annotate.exports.included import LABELED_ONLY, PASS_ONLY
from annotate.exports.models import ExportFormat
from annotate.labeling.access import reviewable_projects
from annotate.labeling.models import Project, Role
from annotate.labeling.questions import KINDS
from inference.models import ModelConfig, Run


class DatasetImportForm(forms.Form):
    file = forms.FileField()  # the formats are listed once, above the form (datasets.html)
    name = forms.CharField(max_length=200, required=False, help_text="Default: the file's name.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    keep_authors = forms.BooleanField(
        required=False,
        label="Keep the export's authors",
        help_text="Give an Annotate export's labels to the accounts it names, creating "
        "missing ones without a password. Unticked, they are all yours.",
    )
    project_kind = forms.ChoiceField(
        required=False,
        choices=[("", "No project"), ("compare", "Compare"), ("label", "Label")],
        label="Project of the outputs",
        help_text="A file of outputs made elsewhere: a project over its models' runs.",
    )
    project_name = forms.CharField(
        max_length=200, required=False, help_text="Default: the dataset's name."
    )

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = (
            f"At most {filesizeformat(settings.IMPORT_MAX_BYTES)} a file and "
            f"{filesizeformat(settings.IMPORT_MAX_FIELD_BYTES)} a field."
        )
        if not (user and user.is_superuser):  # only a superuser may (datasets.actions)
            del self.fields["keep_authors"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if refused := upload_too_big(upload.size):
            raise forms.ValidationError(refused)
        return upload


class RunForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.filter(purpose=""))
    model_config = forms.ModelChoiceField(queryset=ModelConfig.objects.all(), label="Model")
    samples_per_prompt = forms.IntegerField(min_value=1, max_value=100, initial=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # One model to choose from: it is chosen, rather than a "---------" to change first.
        field = self.fields["model_config"]
        if field.queryset.count() == 1:
            field.empty_label = None


class RunChoiceField(forms.ModelChoiceField):
    """Runs by what people call them: model, dataset and day, not a path and an id."""

    def label_from_instance(self, run) -> str:
        day = f"{run.created_at:%Y-%m-%d}"
        return f"{run.model_config.name} on {run.dataset.name}, {day} (run {run.pk})"


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = (
            "name",
            "kind",
            "description",
            "guidelines",
            "blind",
            "overlap",
            "hold_s",
            "runs",
            "pairs_per_item",
            "side_ratings",
            "human_sample_per_run",
        )
        widgets = {
            "guidelines": forms.Textarea(attrs={"rows": 6}),
            "description": forms.Textarea(attrs={"rows": 2}),
            "runs": forms.CheckboxSelectMultiple,
        }
        labels = {
            "hold_s": "Hold time (seconds)",
            "runs": "Outputs of these runs",
            "human_sample_per_run": "Human sample per run",
        }
        # Blind mode hides the models, not the project: say so where the name is typed.
        help_texts = {
            "name": "Annotators see it, in blind projects too: do not name the models here.",
            "blind": "Hide which model wrote an output from annotators. They still see the "
            "project's name and description.",
        }

    def __init__(self, *args, runs: QuerySet[Run], **kwargs):
        """`runs`: those the person may attach (annotate.labeling.access.attachable_runs)."""
        super().__init__(*args, **kwargs)
        runs = runs.select_related("dataset", "model_config").order_by("-created_at")
        self.fields["runs"].queryset = runs
        self.fields["runs"].label_from_instance = lambda r: (
            f"Run {r.pk}: {r.model_config.name} on {r.dataset.name} ({r.total} outputs)"
        )

    def clean_overlap(self):
        value = self.cleaned_data["overlap"]
        if not 1 <= value <= 10:
            raise forms.ValidationError("From 1 to 10 annotators per item.")
        return value

    def clean_human_sample_per_run(self):
        value = self.cleaned_data["human_sample_per_run"]
        if value is not None and value < 1:
            raise forms.ValidationError("At least 1 item per run, or empty for every item.")
        return value

    def project_fields(self) -> dict:
        """What the form sets on the project, for the labeling actions (its runs apart)."""
        return {k: v for k, v in self.cleaned_data.items() if k != "runs"}

    def run_ids(self) -> list[int]:
        return [run.pk for run in self.cleaned_data["runs"]]


class QuestionForm(forms.Form):
    label = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=[(k, k) for k in KINDS])
    options = forms.CharField(required=False, help_text="Choices: comma-separated.")
    min = forms.IntegerField(required=False, initial=1)
    max = forms.IntegerField(required=False, initial=5)
    required = forms.BooleanField(required=False)
    key = forms.CharField(required=False, widget=forms.HiddenInput)

    def has_changed(self) -> bool:
        # An extra row left without a label is no question, whatever its kind select says.
        if not self.initial and not self.data.get(self.add_prefix("label"), "").strip():
            return False
        return super().has_changed()

    def question(self) -> dict:
        data = dict(self.cleaned_data)
        data["options"] = [o for o in data.get("options", "").split(",") if o.strip()]
        data["min"] = 1 if data.get("min") is None else data["min"]
        data["max"] = 5 if data.get("max") is None else data["max"]
        return {k: v for k, v in data.items() if v not in ("", None)} | {
            "required": data.get("required", False)
        }


QuestionFormSet = forms.formset_factory(QuestionForm, extra=1, can_delete=True)


def initial_questions(questions: list[dict]) -> list[dict]:
    return [{**q, "options": ", ".join(q.get("options", []))} for q in questions]


def posted_questions(formset) -> list[dict]:
    """The questions of a valid QuestionFormSet, unchecked (the labeling actions check them)."""
    return [
        f.question() for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")
    ]


class MemberForm(forms.Form):
    who = forms.CharField(max_length=254, label="User name or e-mail")
    role = forms.ChoiceField(choices=Role.choices)


class InviteForm(forms.Form):
    """A new account for someone not on the site yet (the people section, managers)."""

    username = forms.CharField(max_length=150, label="User name")
    email = forms.EmailField(max_length=254, label="E-mail")
    role = forms.ChoiceField(choices=Role.choices)

    @staticmethod
    def prefill(new: str) -> dict:
        """The name or address just looked for in vain, in the field it belongs to."""
        if not new:
            return {}
        return {"email": new} if "@" in new else {"username": new}


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=ExportFormat.choices)
    project = forms.ModelChoiceField(
        queryset=Project.objects.all(),
        required=False,
        help_text="Projects you own or review. Exports carry labels of those projects only.",
    )
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.all(), required=False)
    model = forms.ModelChoiceField(
        queryset=ModelConfig.objects.all(), required=False, label="Model configuration"
    )
    run = RunChoiceField(
        queryset=Run.objects.select_related("model_config", "dataset").order_by("-pk"),
        required=False,
    )
    min_rating = forms.FloatField(required=False, label="Minimum mean rating")
    require_pass = forms.BooleanField(required=False, label=PASS_ONLY)
    agreed = forms.BooleanField(required=False, label="Only where annotators agree")
    reviewed = forms.BooleanField(required=False, label="Only reviewed")
    labeled = forms.BooleanField(
        required=False, label=LABELED_ONLY, help_text="In projects you may review."
    )
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    pseudonyms = forms.BooleanField(
        required=False, initial=True, label="Replace annotator names by stable pseudonyms"
    )
    judge_labels = forms.BooleanField(
        required=False,
        label="Include judge labels",
        help_text="Beside people's labels, each saying which judge, model and rubric version "
        "gave it (JSONL, CSV, Parquet).",
    )

    def __init__(self, *args, user, **kwargs):
        """Only the projects whose labels `user` may read are offered (reviewable_projects)."""
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = reviewable_projects(user)

    def filters(self) -> dict:
        data = {k: (v.pk if hasattr(v, "pk") else v) for k, v in self.cleaned_data.items()}
        return clean_filters(data)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'CI export'.")


class SignInForm(AuthenticationForm):
    """Django's sign-in form, checked through the throttled `sign_in` the API's Basic auth uses."""

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = sign_in(self.request, username, password)
            except CooledDown as error:
                raise forms.ValidationError(str(error), code="cooled_down") from error
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class JudgeForm(forms.Form):
    """A judge's settings (annotate.judges.actions checks them again)."""

    model_config = forms.ModelChoiceField(
        queryset=ModelConfig.objects.order_by("name"),
        label="Model configuration",
        help_text="Any backend: a local model judges for free.",
    )
    name = forms.CharField(max_length=200, required=False, help_text="Default: the model's.")
    rubric = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 18, "class": "mono", "spellcheck": "false"}),
        help_text="Variables: {prompt} {output} {reference} {output_a} {output_b} {questions} "
        "{guidelines} {examples}. A changed rubric is a new version.",
    )
    few_shot = forms.IntegerField(
        min_value=0,
        max_value=20,
        initial=0,
        label="Few-shot examples",
        help_text="People's labels of other items of the project, shown to the judge.",
    )
    inconsistent = forms.ChoiceField(
        choices=[("tie", "Count as a tie"), ("drop", "Leave out")],
        label="A verdict that flips with the order",
        help_text="Comparisons: each pair is judged in both orders.",
    )

    def judge_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data["model_config"] = data["model_config"].pk
        return data


def _int_list(text: str) -> list[int]:
    """ "1, 4, 16" → [1, 4, 16]; a clear error for anything else."""
    try:
        return [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise forms.ValidationError("Whole numbers, separated by commas.") from None


class SweepForm(forms.Form):
    """A speed sweep (annotate.stats.actions.create_sweep, which checks the values)."""

    dataset = forms.ModelChoiceField(queryset=Dataset.objects.filter(purpose=""))
    model_config = forms.ModelChoiceField(queryset=ModelConfig.objects.all(), label="Model")
    in_flight = forms.CharField(
        initial="1, 4, 16",
        label="Batch sizes or concurrencies",
        help_text="A local model's batch sizes, an API's requests in flight: comma-separated.",
    )
    max_tokens = forms.CharField(initial="64, 256", help_text="Comma-separated.")
    sample_size = forms.IntegerField(min_value=1, max_value=100_000, initial=20)
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0)

    def clean_in_flight(self) -> list[int]:
        return _int_list(self.cleaned_data["in_flight"])

    def clean_max_tokens(self) -> list[int]:
        return _int_list(self.cleaned_data["max_tokens"])
