from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from annotate.api import api
from annotate.web.views import (
    accounts,
    auth,
    configs,
    datasets,
    exports,
    health,
    home,
    judges,
    labeling,
    people,
    projects,
    results,
    runs,
    stats,
)

urlpatterns = [
    path("", home.home, name="annotate-home"),
    path("datasets/", datasets.list_datasets, name="annotate-dataset-list"),
    path("datasets/import/", datasets.import_dataset_view, name="annotate-dataset-import"),
    path("datasets/imports/<int:pk>/", datasets.import_detail, name="annotate-import-detail"),
    path("datasets/<int:pk>/", datasets.dataset_detail, name="annotate-dataset-detail"),
    path("datasets/<int:pk>/matrix/", datasets.dataset_matrix, name="annotate-dataset-matrix"),
    path("datasets/items/<int:pk>/", datasets.item_detail, name="annotate-item-detail"),
    path("models/", configs.list_configs, name="annotate-config-list"),
    path("models/new/", configs.edit_config, name="annotate-config-new"),
    path("models/<int:pk>/edit/", configs.edit_config, name="annotate-config-edit"),
    path("exports/", exports.list_exports, name="annotate-export-list"),
    path("exports/<int:pk>/", exports.export_detail, name="annotate-export-detail"),
    path("exports/<int:pk>/download/", exports.download_export, name="annotate-export-download"),
    path("exports/<int:pk>/manifest/", exports.export_manifest, name="annotate-export-manifest"),
    path("account/tokens/", accounts.api_tokens, name="annotate-tokens"),
    path("account/tokens/<int:pk>/revoke/", accounts.revoke_token, name="annotate-token-revoke"),
    path("stats/", stats.stats_page, name="annotate-stats"),
    path("health/", health.health_page, name="annotate-health"),
    path("healthz", health.healthz, name="annotate-healthz"),
    # Browsers ask for /favicon.ico whatever the page links.
    path("favicon.ico", RedirectView.as_view(url=static("annotate/favicon.svg")), name="favicon"),
    path("stats.csv", stats.stats_csv, name="annotate-stats-csv"),
    path("stats/projection.csv", stats.projection_csv, name="annotate-stats-projection-csv"),
    path("runs/", runs.list_runs, name="annotate-run-list"),
    path("runs/new/", runs.create_run, name="annotate-run-create"),
    path("runs/<int:pk>/", runs.run_detail, name="annotate-run-detail"),
    path("runs/<int:pk>/cancel/", runs.cancel_run, name="annotate-run-cancel"),
    path("runs/<int:pk>/resume/", runs.resume_run, name="annotate-run-resume"),
    path("runs/<int:pk>/retry/", runs.retry_failed, name="annotate-run-retry"),
    path("runs/<int:pk>/generations/", runs.list_generations, name="annotate-generation-list"),
    path("generations/<int:pk>/", runs.generation_detail, name="annotate-generation-detail"),
    path("projects/", projects.list_projects, name="annotate-project-list"),
    path("projects/new/", projects.edit_project, name="annotate-project-new"),
    path("runs/<int:pk>/label/", projects.label_run, name="annotate-run-label"),
    path("projects/<int:pk>/", projects.project_detail, name="annotate-project-detail"),
    path("projects/<int:pk>/edit/", projects.edit_project, name="annotate-project-edit"),
    path("projects/<int:pk>/sync/", projects.sync_project, name="annotate-project-sync"),
    path("projects/<int:pk>/judges/new/", judges.new_judge, name="annotate-judge-new"),
    path("judges/<int:pk>/", judges.judge_detail, name="annotate-judge-detail"),
    path("judges/<int:pk>/edit/", judges.edit_judge, name="annotate-judge-edit"),
    path("judges/<int:pk>/runs/", judges.start_judging, name="annotate-judge-start"),
    path("projects/<int:pk>/members/", people.add_member, name="annotate-member-add"),
    path("projects/<int:pk>/people/new/", people.invite_person, name="annotate-member-invite"),
    path(
        "projects/<int:pk>/members/<int:member_pk>/remove/",
        people.remove_member,
        name="annotate-member-remove",
    ),
    path(
        "projects/<int:pk>/members/<int:member_pk>/role/",
        people.set_member_role,
        name="annotate-member-role",
    ),
    path(
        "projects/<int:pk>/members/<int:member_pk>/deactivate/",
        people.deactivate_account,
        name="annotate-member-deactivate",
    ),
    path("projects/<int:pk>/next/", labeling.annotate_next, name="annotate-next"),
    path("projects/<int:pk>/tasks/<int:number>/", labeling.label_task, name="annotate-task"),
    path(
        "projects/<int:pk>/tasks/<int:number>/skip/", labeling.skip_task, name="annotate-task-skip"
    ),
    path(
        "projects/<int:pk>/tasks/<int:number>/unskip/",
        labeling.unskip_task,
        name="annotate-task-unskip",
    ),
    path("projects/<int:pk>/review/", labeling.review_list, name="annotate-review"),
    path("projects/<int:pk>/results/", results.comparison_results, name="annotate-results"),
    path(
        "projects/<int:pk>/review/<int:number>/", labeling.review_task, name="annotate-review-task"
    ),
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/welcome/<uidb64>/<token>/",
        auth.SetPasswordView.as_view(),
        name="annotate-set-password",
    ),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]
