"""Forms for citizens and intake staff. They check shape; the service checks the rest."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from intake.models import MatterType, Rating
from intake.selectors import area_choices
from intake.services import UploadInput
from intake.validators import check_year


class DayField(forms.DateField):
    """A date within the years anyone can mean (intake dates, filters)."""

    default_validators = [check_year]


class MomentField(forms.DateTimeField):
    """A date and time within the years anyone can mean."""

    default_validators = [check_year]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        if not data:
            return []
        items = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in items]


def uploads_from(files: list[UploadedFile]) -> list[UploadInput]:
    return [UploadInput(name=f.name or "", data=f.read()) for f in files]


class AreaChoiceField(forms.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=self._choices_with_blank, required=False, **kwargs)

    @staticmethod
    def _choices_with_blank() -> list[tuple[str, str]]:
        return [("", str(_("（不选择）"))), *area_choices()]


class ReportContentForm(forms.Form):
    """The fields every channel shares."""

    matter_type = forms.ChoiceField(
        label=_("反映类型"),
        choices=[("", _("不确定")), *MatterType.choices],
        required=False,
        widget=forms.RadioSelect,
    )
    area = AreaChoiceField(label=_("事发地点（区县、乡镇街道、村社区）"))
    place_detail = forms.CharField(label=_("具体地点"), max_length=500, required=False)
    title = forms.CharField(label=_("标题"), max_length=500, required=False)
    body = forms.CharField(
        label=_("反映内容"),
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=_("请写清楚什么时间、什么地点、谁、做了什么，以及您的诉求。10～20000字。"),
        max_length=20000,
    )
    occurred = forms.CharField(label=_("发生时间"), max_length=500, required=False, help_text=_("例如：2026年10月，或“近三个月”"))
    accused = forms.CharField(label=_("被反映人或单位"), max_length=500, required=False)
    attachments = MultipleFileField(
        label=_("附件"),
        help_text=_("可上传图片、PDF、Office 文档或录音，最多5个，每个不超过10MB。我们会删除文件中的拍摄地点、作者等信息。"),
    )


class CitizenReportForm(ReportContentForm):
    form_token = forms.CharField(widget=forms.HiddenInput)
    name = forms.CharField(label=_("姓名"), max_length=50, required=False)
    mobile = forms.CharField(label=_("手机号码"), max_length=20, required=False)
    id_number = forms.CharField(label=_("居民身份证号"), max_length=20, required=False)
    sms_opt_in = forms.BooleanField(label=_("有办理进展时发短信提醒我（短信不含反映内容和查询码）"), required=False)


class LetterForm(ReportContentForm):
    received_on = DayField(label=_("收信日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    postmarked_on = DayField(label=_("邮戳日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    name = forms.CharField(label=_("来信人姓名"), max_length=50, required=False)
    mobile = forms.CharField(label=_("联系电话（手机）"), max_length=20, required=False)
    id_number = forms.CharField(label=_("居民身份证号"), max_length=20, required=False)
    attachments = MultipleFileField(label=_("信件扫描件"), help_text=_("请上传信件扫描件（图片或PDF）。"))

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        # Only here: the view turns the day into a time no later than now, so the service,
        # which compares the postmark with it, never sees a day received in the future.
        received = data.get("received_on")
        if received and received > timezone.localdate():
            self.add_error("received_on", _("收信日期不能晚于今天。"))
        return data


class VisitForm(ReportContentForm):
    visitor_count = forms.IntegerField(label=_("来访人数"), min_value=1, max_value=10000, initial=1)
    representatives = forms.CharField(
        label=_("代表姓名"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("集体访请登记代表姓名，每行一人，不超过5人。"),
    )
    name = forms.CharField(label=_("来访人姓名"), max_length=50, required=False)
    mobile = forms.CharField(label=_("联系电话（手机）"), max_length=20, required=False)
    id_number = forms.CharField(label=_("居民身份证号"), max_length=20, required=False)

    def representative_list(self) -> list[str]:
        text = self.cleaned_data.get("representatives") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class CallForm(ReportContentForm):
    caller_number = forms.CharField(label=_("来电号码"), max_length=20, required=False)
    call_started_at = MomentField(
        label=_("来电时间"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    call_duration_seconds = forms.IntegerField(label=_("通话时长（秒）"), min_value=0, max_value=86400, required=False)
    name = forms.CharField(label=_("来电人姓名"), max_length=50, required=False)


class ReceiptLookupForm(forms.Form):
    form_token = forms.CharField(widget=forms.HiddenInput)
    receipt = forms.CharField(
        label=_("查询码"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}),
        help_text=_("提交时获得的16位数字。"),
    )


class ReporterMessageForm(forms.Form):
    access = forms.CharField(widget=forms.HiddenInput)
    body = forms.CharField(label=_("留言或补充材料"), widget=forms.Textarea(attrs={"rows": 5}), max_length=5000, required=False)
    attachments = MultipleFileField(label=_("附件"))


class FeedbackForm(forms.Form):
    access = forms.CharField(widget=forms.HiddenInput)
    rating = forms.ChoiceField(label=_("您对办理结果的评价"), choices=Rating.choices, widget=forms.RadioSelect)
    comment = forms.CharField(label=_("意见（可选）"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, required=False)


class ReviewRequestForm(forms.Form):
    access = forms.CharField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("申请复查的理由"), widget=forms.Textarea(attrs={"rows": 4}), max_length=5000)
