from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.forms.forms import NON_FIELD_ERRORS
from django.http import HttpResponse
from django.urls import reverse

from annotate.web.forms import SignInForm


class LoginView(auth_views.LoginView):
    """Django's login; a user name cooled down from this address is answered 429."""

    form_class = SignInForm

    def form_invalid(self, form) -> HttpResponse:
        if form.has_error(NON_FIELD_ERRORS, "cooled_down"):
            context = self.get_context_data(form=form, locked=form.non_field_errors()[0])
            return self.render_to_response(context, status=429)
        return super().form_invalid(form)


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """A new account's one-time set-password link (annotate.accounts.people): Django's
    password-reset confirmation, which moves the token out of the address into the session
    before showing the form. Once the password is set the person is signed in and lands in
    the project they were invited to."""

    template_name = "registration/set_password.html"
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    title = "Set your password"

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None  # deactivated since

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, "Your password is set: you are signed in.")
        return response

    def get_success_url(self) -> str:
        membership = self.user.memberships.order_by("-pk").first()
        if membership is None:
            return reverse("annotate-home")
        return reverse("annotate-project-detail", args=(membership.project_id,))
