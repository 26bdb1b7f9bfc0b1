"""The documented default categories and term rules (admins edit them afterwards)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_noop

# Category -> functional department code suffix (see triage/demo.py). The names are
# marked for translation: Category shows a translated name where one exists.
CATEGORIES: list[tuple[str, str]] = [
    (gettext_noop("城乡建设"), "zj"),
    (gettext_noop("劳动和社会保障"), "rs"),
    (gettext_noop("教育文体"), "jy"),
    (gettext_noop("商贸旅游"), "sw"),
    (gettext_noop("环境保护"), "sthj"),
    (gettext_noop("卫生计生"), "wj"),
    (gettext_noop("交通运输"), "jt"),
]

# Type of matter: (label, term, weight). The reporter's own choice outweighs these.
MATTER_TERMS: list[tuple[str, str, float]] = [
    *[("accusation", t, 2.0) for t in ("举报", "检举", "控告", "贪污", "受贿", "索贿", "行贿", "腐败", "违纪", "违法乱纪",
                                      "挪用", "侵占", "截留", "克扣", "冒领", "骗取", "虚报", "优亲厚友", "吃拿卡要",
                                      "公款吃喝", "收受", "红包", "以权谋私", "滥用职权", "村干部", "村支书", "村主任")],
    *[("complaint", t, 1.0) for t in ("投诉", "不作为", "乱收费", "扰民", "拖欠", "不处理", "没人管", "推诿", "态度恶劣")],
    *[("help", t, 1.2) for t in ("求助", "帮助", "帮帮", "困难", "救助", "无力", "走投无路", "看病难")],
    *[("suggestion", t, 1.2) for t in ("建议", "增设", "希望能", "提议", "可否", "应该增加")],
    *[("consultation", t, 1.2) for t in ("咨询", "请问", "是否可以", "如何办理", "怎么办理", "需要什么", "什么时候", "政策")],
]

# Violation (检举控告 only): (label, term, weight). The six disciplines of the Party's
# disciplinary regulations, and the grassroots patterns the field sees most.
VIOLATION_TERMS: list[tuple[str, str, float]] = [
    *[("骗取医保基金", t, 3.0) for t in ("医保", "医保基金", "骗保", "套取医保", "虚假住院", "挂床")],
    *[("虚报冒领惠民资金", t, 3.0) for t in ("冒领", "虚报", "低保", "补贴", "惠民", "扶贫资金", "危房改造款", "补偿款")],
    *[("优亲厚友", t, 3.0) for t in ("优亲厚友", "亲戚", "亲属", "关系户", "自家人")],
    *[("吃拿卡要", t, 3.0) for t in ("吃拿卡要", "刁难", "索要", "好处费", "卡要")],
    *[("违规吃喝/收礼", t, 3.0) for t in ("吃喝", "宴请", "收礼", "红包", "礼金", "购物卡", "公款")],
    *[("廉洁纪律", t, 2.0) for t in ("贪污", "受贿", "索贿", "以权谋私", "权钱交易", "挪用", "侵占")],
    *[("群众纪律", t, 2.0) for t in ("侵害群众", "克扣", "截留", "强拆", "欺压")],
    *[("工作纪律", t, 2.0) for t in ("不作为", "乱作为", "失职", "渎职", "推诿", "形式主义")],
    *[("组织纪律", t, 2.0) for t in ("买官", "卖官", "拉票", "贿选", "违规提拔", "违规用人")],
    *[("生活纪律", t, 2.0) for t in ("赌博", "嫖娼", "包养", "婚外情", "生活作风")],
    *[("政治纪律", t, 2.0) for t in ("对抗组织审查", "串供", "妄议", "搞团团伙伙")],
]

# Emergencies jump every queue.
URGENCY_TERMS: list[str] = [
    "燃气泄漏", "煤气泄漏", "天然气泄漏", "漏气", "着火", "火灾", "爆炸", "坍塌", "倒塌", "塌方", "垮塌", "危房",
    "触电", "漏电", "溺水", "有人受伤", "受伤严重", "生命危险", "自杀", "轻生", "跳楼", "不想活", "杀人", "砍人",
    "持刀", "暴力", "殴打", "威胁", "报复", "家暴", "被困", "中毒", "疫情", "决堤", "洪水",
]

# Level of the accused person, by the titles a report uses: (level, term).
ACCUSED_LEVEL_TERMS: list[tuple[int, str]] = [
    *[(4, t) for t in ("村支书", "村书记", "村主任", "村长", "村干部", "村会计", "村委", "社区书记", "社区主任", "网格员")],
    *[(3, t) for t in ("镇长", "乡长", "镇党委", "乡党委", "镇政府", "乡政府", "街道办", "街道主任", "街道书记", "镇干部")],
    *[(2, t) for t in ("区长", "县长", "区委书记", "县委书记", "局长", "副局长", "科长", "所长", "区政府", "县政府")],
    *[(1, t) for t in ("市长", "市委书记", "副市长", "市政府", "市局")],
]


# (title, body) of the reply templates a fresh installation starts with; admins edit them.
REPLY_TEMPLATES = [
    ("已办结（问题已解决）",
     "您好！您反映的问题已收悉。经我单位调查核实，情况如下：\n（核实情况）\n针对上述问题，我们已采取以下措施：\n"
     "（处理措施）\n目前问题已得到解决。感谢您对我们工作的关心和支持，如有其他问题，欢迎继续反映。"),
    ("正在处理（阶段性答复）",
     "您好！您反映的问题已收悉，我单位高度重视，已安排专人调查处理。目前进展如下：\n（进展情况）\n"
     "我们将持续跟进，处理完毕后及时向您答复。感谢您的理解和支持。"),
    ("解释说明（依法依规答复）",
     "您好！关于您反映的问题，经调查核实，现答复如下：\n（核实情况）\n根据（政策或法规名称）的有关规定，"
     "（政策解释）。如您对答复有异议，可在收到答复之日起30日内申请复查。"),
    ("不属本单位职责（告知渠道）",
     "您好！您反映的问题已收悉。经核实，该事项不属于我单位职责范围，建议您向（有关单位）反映，联系方式：（联系方式）。"
     "感谢您的理解。"),
]


def seed_reply_templates(model: Any) -> int:
    """Load the default templates when none exist (idempotent)."""
    if model.objects.exists():
        return 0
    model.objects.bulk_create([model(title=t, body=b, position=i) for i, (t, b) in enumerate(REPLY_TEMPLATES)])
    return len(REPLY_TEMPLATES)
