from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.forms.forms import NON_FIELD_ERRORS
from django.http import HttpResponse

from annotate.web.forms import SignInForm


class LoginView(auth_views.LoginView):
    """Django's login; a user name cooled down from this address is answered 429."""

    form_class = SignInForm

    def form_invalid(self, form) -> HttpResponse:
        if form.has_error(NON_FIELD_ERRORS, "cooled_down"):
            context = self.get_context_data(form=form, locked=form.non_field_errors()[0])
            return self.render_to_response(context, status=429)
        return super().form_invalid(form)
