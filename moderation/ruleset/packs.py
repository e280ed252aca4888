"""Rule packs as YAML files: one pack per file, loaded strictly and written back in a stable form."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from moderation.ruleset.schema import Rule, RulePack


class PackError(ValueError):
    """A pack that cannot be read; every message names the file and, where known, the rule."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'rule'}: {e['msg']}" for e in exc.errors())


def load_pack(path: Path) -> RulePack:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PackError([f"{path.name}: cannot read pack: {exc}"]) from exc
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise PackError([f"{path.name}: a pack is a mapping with a list under 'rules'"])
    problems: list[str] = []
    rules: list[Rule] = []
    for i, raw in enumerate(data["rules"]):
        rule_id = raw.get("id", f"#{i + 1}") if isinstance(raw, dict) else f"#{i + 1}"
        try:
            rules.append(Rule.model_validate(raw))
        except ValidationError as exc:
            problems.append(f"{path.name}: rule {rule_id}: {_errors(exc)}")
    if problems:
        raise PackError(problems)
    try:
        return RulePack(
            name=data.get("name") or path.stem,
            description=data.get("description", ""),
            rules=rules,
        )
    except ValidationError as exc:
        raise PackError([f"{path.name}: {_errors(exc)}"]) from exc


def load_packs(directory: str | Path) -> list[RulePack]:
    """Every `*.yaml` pack in `directory`, sorted by file name; any broken pack raises."""
    paths = sorted(Path(directory).glob("*.yaml"))
    if not paths:
        raise PackError([f"{directory}: no *.yaml rule packs found"])
    packs: list[RulePack] = []
    problems: list[str] = []
    for path in paths:
        try:
            packs.append(load_pack(path))
        except PackError as exc:
            problems.extend(exc.problems)
    if problems:
        raise PackError(problems)
    return packs


def load_rules(directory: str | Path) -> list[Rule]:
    return [rule for pack in load_packs(directory) for rule in pack.rules]


def pack_name(rule: Rule) -> str:
    """A rule lives in the pack named by its id's first part (`medical.cure` → `medical.yaml`)."""
    return rule.id.split(".", 1)[0]


def _rule_data(rule: Rule) -> dict[str, Any]:
    data = rule.model_dump(mode="json", exclude_defaults=True)
    # Keep the fields a reviewer reads first at the top, whatever pydantic's order.
    head = ["id", "label", "category", "severity"]
    return {k: data[k] for k in head if k in data} | {k: v for k, v in data.items() if k not in head}


def dump_packs(
    rules: Iterable[Rule], directory: str | Path, *, descriptions: dict[str, str] | None = None
) -> list[Path]:
    """Write one `<pack>.yaml` per id prefix, rules in the order given; returns the files written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    grouped: dict[str, list[Rule]] = defaultdict(list)
    for rule in rules:
        grouped[pack_name(rule)].append(rule)
    written: list[Path] = []
    for name in sorted(grouped):
        doc: dict[str, Any] = {"name": name}
        if descriptions and descriptions.get(name):
            doc["description"] = descriptions[name]
        doc["rules"] = [_rule_data(r) for r in grouped[name]]
        path = out / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100), encoding="utf-8")
        written.append(path)
    return written
