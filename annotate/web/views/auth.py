from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpResponse

from annotate.accounts.throttling import client_address, is_locked, record_failure


class LoginView(auth_views.LoginView):
    """Django's login, refusing further attempts after too many failures (429)."""

    def post(self, request, *args, **kwargs) -> HttpResponse:
        username = request.POST.get("username", "")
        if is_locked(username, client_address(request)):
            form = self.get_form()
            form.errors.clear()
            context = self.get_context_data(form=form, locked=True)
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form) -> HttpResponse:
        record_failure(self.request.POST.get("username", ""), client_address(self.request))
        return super().form_invalid(form)
