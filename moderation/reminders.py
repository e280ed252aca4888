"""Pure: the hits of one text + the rules' texts → one polite reminder per rule, in order of speech."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from moderation.types import Hit, Label, Reminder, Source

if TYPE_CHECKING:
    from moderation.ruleset.schema import Rule

# The classifier names no rule, so its findings get a reminder per label.
MODEL_REMINDERS: Mapping[Label, Reminder] = {
    Label.EFFICACY: Reminder(
        rule="model.efficacy",
        message="主播您好，这句话听起来像是在夸大产品功效或作出保证，可能让买家误以为有治疗或必然的效果。",
        suggestion="请如实介绍成分、用法和个人使用感受，并说明效果因人而异。",
        basis="《广告法》第九条、第十七条、第二十八条",
    ),
    Label.DIVERSION: Reminder(
        rule="model.diversion",
        message="主播您好，这句话像是在引导买家到平台外联系或交易，平台不允许站外交易。",
        suggestion="请引导买家通过小黄车下单，有问题找店铺在线客服。",
        basis="平台关于站外交易与私下导流的规则",
    ),
}


def reminders_for(hits: Sequence[Hit], rules: Mapping[str, Rule]) -> tuple[Reminder, ...]:
    reminders: list[Reminder] = []
    seen: set[str] = set()
    for hit in hits:
        if hit.rule in seen:
            continue
        seen.add(hit.rule)
        reminders.append(_reminder(hit, rules))
    return tuple(reminders)


def _reminder(hit: Hit, rules: Mapping[str, Rule]) -> Reminder:
    said = f"（您说的是“{hit.text}”）" if hit.text.strip() else ""
    if hit.source is Source.MODEL or hit.rule not in rules:
        template = MODEL_REMINDERS[hit.label]
        return Reminder(hit.rule, template.message + said, template.suggestion, template.basis)
    rule = rules[hit.rule]
    return Reminder(rule=rule.id, message=rule.reminder + said, suggestion=rule.suggestion, basis=rule.basis)
