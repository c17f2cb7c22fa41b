from inference.access import can_manage


def nav(request) -> dict:
    return {"can_manage": can_manage(request.user) if hasattr(request, "user") else False}
