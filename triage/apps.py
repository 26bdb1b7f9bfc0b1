"""App configuration for triage: wires the receivers intake's signals need."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TriageConfig(AppConfig):
    name = "triage"
    verbose_name = _("分流与办理")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from intake import handoff
        from triage import receivers

        handoff.report_submitted.connect(receivers.create_case, dispatch_uid="triage.create_case")
        handoff.reporter_message_posted.connect(receivers.reporter_answered, dispatch_uid="triage.answered")
        handoff.reporter_feedback_given.connect(receivers.reporter_rated, dispatch_uid="triage.rated")
        handoff.reporter_review_requested.connect(receivers.reporter_requested_review, dispatch_uid="triage.review")
        handoff.register_case_summary_provider(receivers.case_summary_for_report)
        from django.db.models.signals import post_delete, post_save, pre_save

        from intake.models import Area
        from triage.models import Category, Department, TermRule

        for model in (TermRule, Category, Department, Area):
            for signal in (post_save, post_delete):
                signal.connect(receivers.routing_edited, sender=model, dispatch_uid=f"triage.routing_edited.{model.__name__}")
        from django.contrib.admin.models import LogEntry

        post_save.connect(receivers.config_change_logged, sender=LogEntry, dispatch_uid="triage.config_change_logged")
        from triage.models import CalendarOverride

        pre_save.connect(receivers.calendar_before_edit, sender=CalendarOverride,
                         dispatch_uid="triage.calendar_before_edit")
        for signal in (post_save, post_delete):
            signal.connect(receivers.calendar_edited, sender=CalendarOverride,
                           dispatch_uid=f"triage.calendar_edited.{signal is post_save}")
