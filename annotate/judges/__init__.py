"""Model judges: a model configuration plus a rubric, attached to a project, whose labels are
kept apart from people's (never Annotation rows)."""
