from django.apps import AppConfig


class AnnotateConfig(AppConfig):
    name = "annotate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported for their side effect, once the models are loaded (ready() runs in every
        # process before any request or task): comparisons register their project kind with
        # labeling, which sits below them and cannot import them; receivers connect.
        from annotate.comparisons import kind  # noqa: F401
        from annotate.judges import receivers as judges_receivers  # noqa: F401
        from annotate.labeling import receivers  # noqa: F401
        from annotate.stats import receivers as stats_receivers  # noqa: F401
